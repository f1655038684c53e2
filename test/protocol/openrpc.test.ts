/**
 * protocol/openrpc.json with the official OpenRPC tooling (@open-rpc/schema-utils-js): the document is valid,
 * params are declared by name (one ContentDescriptor per field), and every example in protocol/examples passes
 * the official MethodCallValidator and the declared result and notification schemas.
 */
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { validateOpenRPCDocument } from '@open-rpc/schema-utils-js';
import { ROOT } from '../../scripts/codegen.js';
import { METHODS, METHOD_NAMES } from '../../protocol/src/methods.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import { openRpcChecker, type OpenRpcChecker } from '../helpers/openrpc.js';

const EX = join(ROOT, 'protocol', 'examples');
const read = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

describe('protocol: openrpc.json with the official OpenRPC tooling', () => {
  const doc = read(join(ROOT, 'protocol', 'openrpc.json'));
  let check: OpenRpcChecker;
  before(async () => {
    check = await openRpcChecker(doc);
  });

  it('is a valid OpenRPC document (validateOpenRPCDocument)', () => {
    const r = validateOpenRPCDocument(doc);
    expect(r === true ? true : r.message).to.equal(true);
  });

  it("declares each method's params by name: one descriptor per field, with required flags", () => {
    expect(doc.methods.map((m: { name: string }) => m.name)).to.deep.equal(METHOD_NAMES);
    for (const m of doc.methods as { name: string; paramStructure: string; params: { name: string; required: boolean }[] }[]) {
      const spec = METHODS[m.name as keyof typeof METHODS].params as unknown as { properties: Record<string, unknown>; required?: string[] };
      expect(m.paramStructure, m.name).to.equal('by-name');
      expect(
        m.params.map((p) => p.name),
        m.name,
      ).to.deep.equal(Object.keys(spec.properties));
      expect(
        m.params.filter((p) => p.required).map((p) => p.name),
        m.name,
      ).to.deep.equal(spec.required ?? []);
    }
    expect(JSON.stringify(doc), 'every named struct is a $ref, declared once').to.not.include('"$id"');
  });

  it('declares -32602 and each application error for every method', () => {
    for (const m of METHOD_NAMES) {
      expect(check.errorCodes(m), m).to.deep.equal([ErrorCode.InvalidParams, ...METHODS[m].errors.map((e) => ErrorCode[e])]);
    }
  });

  it('every request example passes MethodCallValidator, every response example its result schema', () => {
    let n = 0;
    for (const m of METHOD_NAMES) {
      const req = read(join(EX, `${m}.request.json`));
      const res = read(join(EX, `${m}.response.json`));
      expect(check.params(m, req.params), `${m} request`).to.deep.equal([]);
      expect(check.result(m, res.result), `${m} response`).to.deep.equal([]);
      n++;
    }
    expect(n).to.equal(METHOD_NAMES.length).and.be.greaterThan(10);
    // The rpc.discover example is itself an OpenRPC document.
    expect(validateOpenRPCDocument(read(join(EX, 'rpc.discover.response.json')).result)).to.equal(true);
  });

  it('every notification example matches its declared params schema', () => {
    const files = readdirSync(EX).filter((f) => f.endsWith('.notification.json'));
    const withMethod = files.map((f) => read(join(EX, f))).filter((msg) => msg.method);
    expect(withMethod.length).to.be.greaterThan(4);
    for (const msg of withMethod) expect(check.notification(msg.method, msg.params), msg.method).to.deep.equal([]);
  });

  it('the validators are not vacuous: the old wrapped params, wrong types, missing and unknown fields fail', () => {
    const req = read(join(EX, 'labels.update.request.json'));
    expect(check.params('labels.update', { params: req.params })).to.not.deep.equal([]);
    expect(check.params('labels.update', { ...req.params, encoding: 'utf8' }).join()).to.match(/encoding/);
    const { imageId: _drop, ...missing } = req.params;
    expect(check.params('labels.update', missing)).to.not.deep.equal([]);
    expect(check.params('labels.update', { ...req.params, colour: 'red' }).join()).to.match(/colour/);
    expect(check.params('labels.update', [req.params])).to.not.deep.equal([]);
    const res = read(join(EX, 'labels.get.response.json'));
    expect(check.result('labels.get', { ...res.result, counts: { unlabeled: -1, background: 0, objects: 0 } }).join()).to.match(/counts/);
    expect(check.notification('$/progress', { token: 'j', kind: 'middle' })).to.not.deep.equal([]);
  });
});
