// CRC-32 of model files (IEEE 802.3: reflected, polynomial 0xEDB88320, as zlib and PNG), the
// checksum src/container.ts writes and checks: a JavaScript loop over a file's bytes runs in the
// interpreter during a cold start (milliseconds for 60 KB), the same loop here in microseconds.
// The table lives in static memory (no allocation); there is no SIMD version, so no scalar twin: the
// test's oracle is the container's JavaScript CRC-32.

/**
 * The byte-wise CRC-32 table (entry b: the register after shifting byte b through), in static
 * memory that is zero until the first call fills it: 1 KB the inlined module need not carry.
 */
const CRC_TABLE: usize = memory.data(1024, 16);

function fillTable(): void {
  for (let b: u32 = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(CRC_TABLE + (<usize>b << 2), c);
  }
}

/**
 * CRC-32 of bytes[0..n) (`bytes` a byte pointer, n a byte count), continuing the checksum
 * `crc` of the bytes before them (0 to start); returns it as an unsigned 32-bit value.
 */
export function crc32_u8(bytes: usize, n: i32, crc: u32): u32 {
  assert(n >= 0, 'crc32_u8: n < 0');
  if (load<u32>(CRC_TABLE + 4) == 0) fillTable(); // entry 1 is never 0
  let c = ~crc;
  for (let i = 0; i < n; i++) c = load<u32>(CRC_TABLE + (((c ^ <u32>load<u8>(bytes + <usize>i)) & 0xff) << 2)) ^ (c >>> 8);
  return ~c;
}
