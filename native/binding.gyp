{
  "targets": [
    {
      "target_name": "persistfs_native",
      "sources": ["src/addon.cc", "src/ring.cc", "src/blocking.cc", "src/aligned.cc", "src/crc32c.cc", "src/sst-block.cc", "src/memtable.cc", "src/fuse/session.cc", "src/fuse/data-path.cc", "src/fuse/uring-queue.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "libraries": ["-luring", "-lisal"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fexceptions"]
    }
  ]
}
