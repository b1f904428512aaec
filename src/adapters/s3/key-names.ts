// Names as parts of object keys. S3 keys are UTF-8, while a name may hold any byte (escaped in its string
// as a lone surrogate: ground/name-bytes.ts). In a key, each such byte is written %XX (uppercase hex, 80
// to FF) and '%' itself %25; nothing else changes, so the keys of UTF-8 names are the names. Reading keys
// back undoes exactly that (a key written by another tool with a literal "%25" or "%FF" in it reads as '%'
// or the byte FF).
const TO_KEY = /%|[\uDC80-\uDCFF]/gu;
const FROM_KEY = /%(25|[89A-F][0-9A-F])/g;

export function keyOfName(name: string): string {
  return name.replace(TO_KEY, (char) => (char === '%' ? '%25' : `%${(char.charCodeAt(0) & 0xff).toString(16).toUpperCase()}`));
}

export function nameOfKey(part: string): string {
  return part.replace(FROM_KEY, (_, hex: string) => (hex === '25' ? '%' : String.fromCharCode(0xdc00 | Number.parseInt(hex, 16))));
}
