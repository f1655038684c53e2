/** The protocol package: generated files current, every example valid, NdArray codec strict. */
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { generated, ROOT } from '../../scripts/codegen.js';
import { METHODS, METHOD_NAMES, type MethodName } from '../../protocol/src/methods.js';
import { validate, validateParams, validateResult } from '../../protocol/src/validate.js';
import { NOTIFICATIONS } from '../../protocol/src/progress.js';
import { decodeNdArray, decodeNdArrayAsync, encodeNdArray, SYNC_INFLATE_BYTES } from '../../protocol/src/ndarray.js';
import { ERROR_DESCRIPTIONS, ErrorCode } from '../../protocol/src/errors.js';

const EX = join(ROOT, 'protocol', 'examples');

describe('protocol', () => {
  it('openrpc.json, protocol.schema.json and docs/protocol.md are current (run `npm run codegen` if this fails)', () => {
    for (const [rel, text] of Object.entries(generated())) {
      expect(readFileSync(join(ROOT, rel), 'utf8'), `${rel} is stale`).to.equal(text);
    }
  });

  it('every method has a request and a response example, and they validate', () => {
    for (const m of METHOD_NAMES) {
      const req = JSON.parse(readFileSync(join(EX, `${m}.request.json`), 'utf8'));
      const res = JSON.parse(readFileSync(join(EX, `${m}.response.json`), 'utf8'));
      expect(req.method).to.equal(m);
      expect(req.id).to.equal(res.id);
      expect(validateParams(m, req.params), `${m} request`).to.deep.equal([]);
      expect(validateResult(m, res.result), `${m} response`).to.deep.equal([]);
    }
  });

  it('every notification example validates', () => {
    const files = readdirSync(EX).filter((f) => f.endsWith('.notification.json'));
    expect(files.length).to.be.greaterThan(4);
    for (const f of files) {
      const msg = JSON.parse(readFileSync(join(EX, f), 'utf8'));
      if (msg.method) {
        const spec = NOTIFICATIONS[msg.method as keyof typeof NOTIFICATIONS];
        expect(spec, f).to.not.equal(undefined);
        expect(validate(spec.params, msg.params), f).to.deep.equal([]);
      } else {
        expect(msg.error.code).to.be.a('number');
      }
    }
  });

  it('a wrong example is caught (validators are not vacuous)', () => {
    expect(
      validateParams('labels.update', { sessionId: 's', imageId: 'i', labels: { dtype: 'int64', shape: [1], data: '' }, encoding: 'signed' }),
    ).to.not.deep.equal([]);
    expect(validateParams('session.create', { name: 3 })[0].path).to.equal('/name');
  });

  it('every declared application error has a description and a unique code', () => {
    const codes = Object.values(ErrorCode);
    expect(new Set(codes).size).to.equal(codes.length);
    for (const m of Object.values(METHODS)) for (const e of m.errors) expect(ERROR_DESCRIPTIONS[e]).to.be.a('string');
    for (const [k, v] of Object.entries(ErrorCode)) if (v <= -32801) expect(ERROR_DESCRIPTIONS[k as keyof typeof ErrorCode].length).to.be.greaterThan(10);
  });

  describe('NdArray codec', () => {
    it('round-trips every dtype, raw and deflate', () => {
      const arrays = [
        Uint8Array.from([1, 255]),
        Uint16Array.from([0, 65535]),
        Int16Array.from([-32768, 7]),
        Int32Array.from([-1, 2 ** 31 - 1]),
        Float32Array.from([0.5, -3]),
      ];
      for (const a of arrays)
        for (const deflate of [false, true]) {
          const e = encodeNdArray(a, [1, 2], { deflate });
          const d = decodeNdArray(e, { maxElements: 10 });
          expect([...d.data]).to.deep.equal([...a]);
          expect(d.data.constructor).to.equal(a.constructor);
        }
    });
    it('rejects wrong lengths, bad base64, limits, zero dims and NaN with the field path', () => {
      const ok = encodeNdArray(Int32Array.from([1, 2, 3, 4]), [2, 2]);
      const cases: [object, RegExp, string][] = [
        [{ ...ok, shape: [2, 3] }, /needs 24/, '/x/data'],
        [{ ...ok, data: 'abc' }, /base64/, '/x/data'],
        [{ ...ok, shape: [1000, 1000] }, /limit/, '/x/shape'],
        [{ ...ok, shape: [0, 2] }, /empty/, '/x/shape'],
        [encodeNdArray(Float32Array.from([1, NaN]), [2]), /NaN/, '/x/data'],
        [{ ...ok, encoding: 'deflate' }, /inflate/, '/x/data'],
      ];
      for (const [a, re, path] of cases) {
        let err: any;
        try {
          decodeNdArray(a as never, { maxElements: 100, path: '/x' });
        } catch (e) {
          err = e;
        }
        expect(String(err?.message)).to.match(re);
        expect(err.path).to.equal(path);
      }
    });
    it('async decode of deflated arrays, in place (<= 1 MiB) and on the pool (larger): exact size decoded, longer or shorter refused', async () => {
      for (const n of [64 * 64, SYNC_INFLATE_BYTES / 2 + 8]) {
        const a = Uint16Array.from({ length: n }, (_, i) => (i * 7) % 300);
        const d = await decodeNdArrayAsync(encodeNdArray(a, [n]), { maxElements: 1 << 22 });
        const e = await decodeNdArrayAsync(encodeNdArray(a, [n], { deflate: true }), { maxElements: 1 << 22 });
        expect(e.data.length).to.equal(n);
        expect(e.data.some((v) => v !== 0)).to.equal(true);
        expect([...e.data]).to.deep.equal([...d.data]);
        expect(e.data.buffer.byteLength, 'an exactly sized buffer').to.equal(2 * n);
        for (const wrong of [n - 1, n + 1]) {
          const bad = {
            ...encodeNdArray(
              Uint16Array.from({ length: wrong }, (_, i) => i % 9),
              [wrong],
              { deflate: true },
            ),
            shape: [n],
          };
          let err: any;
          try {
            await decodeNdArrayAsync(bad, { maxElements: 1 << 22, path: '/labels' });
          } catch (x) {
            err = x;
          }
          expect(String(err?.message), `${wrong} elements sent for ${n}`).to.match(/inflate/);
          expect(err.path).to.equal('/labels/data');
        }
      }
    });
  });
});

export type _unused = MethodName;
