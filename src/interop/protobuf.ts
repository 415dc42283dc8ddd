/**
 * The few protocol-buffer wire encodings an ONNX file needs (varints, length-delimited
 * fields, fixed 32-bit floats), written into a growing byte buffer: enough for ModelProto and
 * its children without a protobuf dependency in the runtime bundle.
 * See https://protobuf.dev/programming-guides/encoding/.
 * @module
 */

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;

/** A protobuf message being encoded: append fields in field-number order, then {@link bytes}. */
export class ProtoWriter {
  private buf = new Uint8Array(64);
  private n = 0;

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + k) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }

  /** A non-negative integer below 2^53 as a base-128 varint. */
  private varint(v: number): void {
    if (!(Number.isSafeInteger(v) && v >= 0)) throw new RangeError(`protobuf varint: ${v} is not a non-negative safe integer`);
    this.room(10);
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.n++] = v;
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** int32/int64/enum field (non-negative values only: ONNX needs no negative ones here). */
  int(field: number, v: number): this {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
    return this;
  }

  /** float field (fixed32, little-endian). */
  float(field: number, v: number): this {
    this.tag(field, WIRE_FIXED32);
    this.room(4);
    new DataView(this.buf.buffer).setFloat32(this.n, v, true);
    this.n += 4;
    return this;
  }

  /** bytes field. */
  raw(field: number, b: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }

  /** string field (UTF-8). */
  string(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }

  /** Embedded message field. */
  message(field: number, m: ProtoWriter): this {
    return this.raw(field, m.bytes());
  }

  /** The encoded message. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}
