// Key helpers: the one spelling of a key, its parts, ancestry, and key order.
import test from 'tape';

import { Key } from '../../src/index.js';

test('Key.check and isValid: one spelling per key', (t) => {
  for (const key of ['/a', '/a/b', '/a.b/c d', '/é/\u{1F600}', '/...', '/a/.b']) {
    t.equal(Key.check(key), key, `'${key}' is a key`);
  }
  const bad: Array<[unknown, RegExp]> = [
    ['a', /start with '\/'/],
    ['/', /root/],
    ['/a/', /empty segments/],
    ['//a', /empty segments/],
    ['/a/../b', /'\.' or '\.\.'/],
    ['/a/.', /'\.' or '\.\.'/],
    ['/a\0', /NUL/],
    ['/\uDC00', /surrogate/],
    [7, /must be a string, got number/],
    [null, /got null/],
  ];
  for (const [key, why] of bad) {
    t.throws(() => Key.check(key, 'put'), why, `${JSON.stringify(key)} is refused, saying why`);
    t.equal(Key.isValid(key), false, `isValid(${JSON.stringify(key)}) is false`);
  }
  try {
    Key.check('/a//b', 'put');
  } catch (error) {
    t.equal((error as { code?: string }).code, 'EINVAL', 'the error is EINVAL');
    t.match((error as Error).message, /^EINVAL: .*put: .*'\/a\/\/b'/, 'and names the call and the key');
  }
  t.end();
});

test('Key.normalize, parent, name, child, isAncestorOf', (t) => {
  t.equal(Key.normalize('a//b/'), '/a/b', 'normalize adds the leading / and drops empty segments');
  t.equal(Key.normalize(''), '/', "normalize('') is the root");
  t.throws(() => Key.normalize('/a/../b'), /EINVAL/, "normalize does not resolve '..'");
  t.equal(Key.parent('/a/b'), '/a', 'parent');
  t.equal(Key.parent('/a'), '/', 'parent of a top-level key is the root');
  t.throws(() => Key.parent('/'), /EINVAL/, 'the root has no parent');
  t.equal(Key.name('/a/b'), 'b', 'name');
  t.equal(Key.child('/a', 'b'), '/a/b', 'child');
  t.equal(Key.child('/', 'b'), '/b', 'child of the root');
  t.throws(() => Key.child('/a', 'b/c'), /EINVAL/, "a child segment with '/' is refused");
  t.throws(() => Key.child('/a', '..'), /EINVAL/, "a '..' child is refused");
  t.ok(Key.isAncestorOf('/a', '/a/b'), '/a is above /a/b');
  t.ok(Key.isAncestorOf('/a', '/a/b/c'), 'and /a/b/c');
  t.notOk(Key.isAncestorOf('/a', '/ab'), 'not /ab');
  t.notOk(Key.isAncestorOf('/a', '/a'), 'not itself');
  t.ok(Key.isAncestorOf('/', '/x'), '/ is above every key');
  t.end();
});

test('Key.compare is code point order, the order of UTF-8 bytes', (t) => {
  const keys = ['/\u{1F600}', '/\uFFFD', '/b', '/a/b', '/a', '/a-b', '/\u00e9'];
  const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  t.deepEqual([...keys].sort(Key.compare), byBytes, 'sorting with compare matches sorting the UTF-8 bytes');
  t.notDeepEqual([...keys].sort(), byBytes, 'which the default string sort does not');
  t.equal(Key.compare('/a', '/a'), 0, 'equal keys');
  t.end();
});
