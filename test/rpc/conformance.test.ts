/**
 * JSON-RPC 2.0 conformance over a real daemon on port 0, with raw text frames (no client library):
 * the specification's own section-7 examples, adapted to methods this server has, and the envelope rules
 * (method must be a string, ids must be strings, safe integers or null, notifications are never answered).
 */
import { expect } from 'chai';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import { RawConnection } from '../helpers/raw-connection.js';

type Msg = Record<string, any>;

const err = (code: number, id: unknown = null) => ({ id, code });
const shape = (r: unknown) => {
  const m = r as Msg;
  expect(m.jsonrpc).to.equal('2.0');
  if (m.error) {
    expect(m).to.not.have.property('result');
    expect(m.error.message).to.be.a('string').and.not.equal('');
    return { id: m.id, code: m.error.code as number };
  }
  expect(m).to.have.property('result');
  return { id: m.id, result: true };
};

describe('rpc: JSON-RPC 2.0 conformance (raw frames, real daemon)', () => {
  let d: TestDaemon;
  let c: RawConnection;
  before(async () => {
    d = await startTestDaemon();
    c = await RawConnection.open(d.url);
  });
  after(async () => {
    c.close();
    await d.stop();
  });

  const one = async (text: string) => {
    const out = await c.exchange(text);
    expect(out, text).to.have.length(1);
    expect(Array.isArray(out[0]), `${text}: a single answer, not a batch`).to.equal(false);
    return shape(out[0]);
  };
  const none = async (text: string) => expect(await c.exchange(text), text).to.deep.equal([]);

  describe("specification section 7 examples (adapted to this server's methods)", () => {
    it('rpc call with named params answers a result with the same id', async () => {
      expect(await one('{"jsonrpc": "2.0", "method": "server.info", "params": {}, "id": 1}')).to.deep.equal({ id: 1, result: true });
      expect(await one('{"jsonrpc": "2.0", "method": "session.list", "id": "abc"}')).to.deep.equal({ id: 'abc', result: true });
    });

    it('rpc call with positional params: this server takes named params only, so -32602 with the id', async () => {
      expect(await one('{"jsonrpc": "2.0", "method": "session.get", "params": [42, 23], "id": 2}')).to.deep.equal(err(ErrorCode.InvalidParams, 2));
    });

    it('notifications get no response, whether the method exists or not', async () => {
      await none('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}');
      await none('{"jsonrpc": "2.0", "method": "foobar"}');
      await none('{"jsonrpc": "2.0", "method": "server.info", "params": {}}');
    });

    it('rpc call of a non-existent method: -32601 with the id', async () => {
      expect(await one('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}')).to.deep.equal(err(ErrorCode.MethodNotFound, '1'));
    });

    it('rpc call with invalid JSON: -32700, id null', async () => {
      expect(await one('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')).to.deep.equal(err(ErrorCode.ParseError));
    });

    it('rpc call with an invalid Request object (method 1, params "bar"): -32600, id null', async () => {
      expect(await one('{"jsonrpc": "2.0", "method": 1, "params": "bar"}')).to.deep.equal(err(ErrorCode.InvalidRequest));
    });

    it('batch with invalid JSON: one -32700, id null', async () => {
      expect(await one('[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method"]')).to.deep.equal(
        err(ErrorCode.ParseError),
      );
    });

    it('empty batch: one -32600 (not an array), id null', async () => {
      expect(await one('[]')).to.deep.equal(err(ErrorCode.InvalidRequest));
    });

    it('invalid batch elements: an array with one -32600 per element', async () => {
      for (const [text, n] of [
        ['[1]', 1],
        ['[1,2,3]', 3],
        ['[null, "x", true]', 3],
      ] as const) {
        const out = await c.exchange(text);
        expect(out, text).to.have.length(1);
        expect(out[0], text).to.be.an('array').with.length(n);
        expect((out[0] as unknown[]).map(shape), text).to.deep.equal(Array(n).fill(err(ErrorCode.InvalidRequest)));
      }
    });

    it('mixed batch: answers every request (results and errors by id), nothing for notifications', async () => {
      const batch = [
        { jsonrpc: '2.0', method: 'server.info', params: {}, id: '1' },
        { jsonrpc: '2.0', method: 'notify_hello', params: [7] },
        { jsonrpc: '2.0', method: 'session.list', params: {}, id: '2' },
        { foo: 'boo' },
        { jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: '5' },
        { jsonrpc: '2.0', method: 'rpc.discover', id: '9' },
        { jsonrpc: '2.0', method: 'session.get', params: { sessionId: 5 } },
      ];
      const out = await c.exchange(JSON.stringify(batch));
      expect(out).to.have.length(1);
      expect(out[0]).to.be.an('array');
      const got = (out[0] as unknown[]).map(shape);
      const byId = (a: { id: unknown }, b: { id: unknown }) => String(a.id).localeCompare(String(b.id));
      expect(got.sort(byId)).to.deep.equal(
        [
          { id: '1', result: true },
          { id: '2', result: true },
          err(ErrorCode.MethodNotFound, '5'),
          { id: '9', result: true },
          err(ErrorCode.InvalidRequest),
        ].sort(byId),
      );
    });

    it('batch of notifications only: no response at all', async () => {
      await none('[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]');
      await none('[{"jsonrpc": "2.0", "method": "server.info"}, {"jsonrpc": "2.0", "method": "session.get", "params": {"sessionId": []}}]');
    });
  });

  describe('envelope rules', () => {
    it('a method that is not a string is an invalid request (-32600), not an unknown method', async () => {
      for (const m of ['1', 'null', '{}', '["server.info"]', 'true']) {
        expect(await one(`{"jsonrpc": "2.0", "method": ${m}, "params": {}, "id": 3}`), m).to.deep.equal(err(ErrorCode.InvalidRequest));
      }
      expect(await one('{"jsonrpc": "2.0", "params": {}, "id": 3}')).to.deep.equal(err(ErrorCode.InvalidRequest));
    });

    it('a notification with invalid params gets no response', async () => {
      await none('{"jsonrpc": "2.0", "method": "session.get", "params": {}}');
      await none('{"jsonrpc": "2.0", "method": "session.get", "params": {"sessionId": 5}}');
      await none('{"jsonrpc": "2.0", "method": "labels.update", "params": [1, 2]}');
      await none('{"jsonrpc": "2.0", "method": "session.close", "params": {"sessionId": "nosuchsession"}}');
    });

    it('the same invalid params with an id are answered -32602 naming the field', async () => {
      const out = await c.exchange('{"jsonrpc": "2.0", "method": "session.get", "params": {"sessionId": 5}, "id": 4}');
      expect(out).to.have.length(1);
      expect((out[0] as Msg).error.code).to.equal(ErrorCode.InvalidParams);
      expect((out[0] as Msg).error.data[0].path).to.equal('/sessionId');
    });

    it('an id that is an object, an array, a boolean or not a safe integer: -32600 with id null', async () => {
      for (const id of ['{}', '{"a": 1}', '[]', '[1]', 'true', 'false', '1.5', '9007199254740993', '1e300', '-0.5']) {
        expect(await one(`{"jsonrpc": "2.0", "method": "server.info", "params": {}, "id": ${id}}`), id).to.deep.equal(err(ErrorCode.InvalidRequest));
      }
    });

    it('string, safe-integer and null ids are echoed exactly', async () => {
      for (const id of ['"x-1"', '""', '0', '-7', '9007199254740991', 'null']) {
        expect(await one(`{"jsonrpc": "2.0", "method": "server.info", "params": {}, "id": ${id}}`), id).to.deep.equal({ id: JSON.parse(id), result: true });
      }
    });

    it('jsonrpc must be "2.0", params must be structured, and a request carries no result or error', async () => {
      for (const text of [
        '{"method": "server.info", "params": {}, "id": 5}',
        '{"jsonrpc": "1.0", "method": "server.info", "params": {}, "id": 5}',
        '{"jsonrpc": 2, "method": "server.info", "params": {}, "id": 5}',
        '{"jsonrpc": "2.0", "method": "server.info", "params": "x", "id": 5}',
        '{"jsonrpc": "2.0", "method": "server.info", "params": null, "id": 5}',
        '{"jsonrpc": "2.0", "method": "server.info", "params": {}, "id": 5, "result": 1}',
        '"server.info"',
        '42',
        'null',
      ]) {
        expect(await one(text), text).to.deep.equal(err(ErrorCode.InvalidRequest));
      }
    });

    it('$/cancelRequest is not answered as a notification, and is answered when sent with an id', async () => {
      await none('{"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 12345}}');
      expect(await one('{"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 12345}, "id": 6}')).to.deep.equal({ id: 6, result: true });
    });

    it('the daemon still answers normally afterwards', async () => {
      // server.info answers synchronously, so its answer comes before exchange()'s sentinel; a method that writes to
      // disk (session.create fsyncs) may answer after it on a loaded machine.
      expect(await one('{"jsonrpc": "2.0", "method": "server.info", "params": {}, "id": 99}')).to.deep.equal({ id: 99, result: true });
      const created = (await c.call('session.create', { name: 'after' })) as { result?: { sessionId?: string } };
      expect(created.result?.sessionId).to.be.a('string');
    });
  });
});
