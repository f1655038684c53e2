import { expect } from 'chai';
import { appendFileSync, constants, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../server/storage/store.js';
import { tempHome, cleanup } from '../helpers/daemon.js';

describe('storage: label journal and snapshots', () => {
  let home: string;
  let store: Store;
  beforeEach(async () => {
    home = tempHome();
    store = new Store(home);
    await store.writeSessionMeta('s1', { sessionId: 's1' });
  });
  afterEach(async () => {
    await store.closeJournals();
    cleanup(home);
  });

  it('replays records in generation order, packing int16 and int32 payloads', async () => {
    await store.appendLabelRecord('s1', 'img1', 1, {
      generation: 1,
      origin: [0, 0],
      shape: [2, 2],
      kind: 'annotation',
      labels: Int32Array.from([-1, 0, 5, 40000]),
    });
    await store.appendLabelRecord('s1', 'img1', 1, { generation: 2, origin: [1, 1], shape: [1, 1], kind: 'correction', labels: Int32Array.from([3]) });
    const r = store.readLabels('s1', 'img1');
    expect(r.records.map((x) => x.generation)).to.deep.equal([1, 2]);
    expect([...r.records[0].labels]).to.deep.equal([-1, 0, 5, 40000]);
    expect(r.records[1].kind).to.equal('correction');
    expect(r.tornBytes).to.equal(0);
  });

  it('journals deflated wire payloads as sent and replays them to signed labels (offset1 -> v - 1)', async () => {
    const { deflateSync } = await import('node:zlib');
    const wire = Uint16Array.from([0, 1, 2, 70]);
    await store.appendLabelRecord(
      's1',
      'img1',
      1,
      { generation: 1, origin: [0, 0], shape: [2, 2], kind: 'annotation', labels: Int32Array.from([-1, 0, 1, 69]) },
      { dtype: 'uint16', offset: 1, deflated: deflateSync(Buffer.from(wire.buffer)) },
    );
    const r = store.readLabels('s1', 'img1');
    expect([...r.records[0].labels]).to.deep.equal([-1, 0, 1, 69]);
  });

  it('drops a torn tail (a crash mid-write) and keeps every complete record', async () => {
    await store.appendLabelRecord('s1', 'img1', 1, { generation: 1, origin: [0, 0], shape: [1, 2], kind: 'annotation', labels: Int32Array.from([1, 2]) });
    appendFileSync(join(home, 'sessions', 's1', 'labels', 'img1.1.jnl'), Buffer.from([0x31, 0x4a, 0x43, 0x53, 9, 0, 0]));
    const r = store.readLabels('s1', 'img1');
    expect(r.records).to.have.length(1);
    expect(r.tornBytes).to.equal(7);
  });

  it('a snapshot covers older segments; newer segments replay on top; old segments are deleted', async () => {
    await store.appendLabelRecord('s1', 'img1', 1, { generation: 1, origin: [0, 0], shape: [1, 2], kind: 'annotation', labels: Int32Array.from([1, 1]) });
    await store.appendLabelRecord('s1', 'img1', 2, { generation: 3, origin: [0, 0], shape: [1, 1], kind: 'annotation', labels: Int32Array.from([9]) });
    await store.writeLabelSnapshot('s1', 'img1', { generation: 2, shape: [1, 2], labels: Int32Array.from([4, 4]), corrections: new Uint8Array(2) });
    let r = store.readLabels('s1', 'img1');
    expect(r.snapshot!.generation).to.equal(2);
    expect(r.records.map((x) => x.generation)).to.deep.equal([3]);
    await store.deleteJournalSegmentsBelow('s1', 'img1', 2);
    expect(readdirSync(join(home, 'sessions', 's1', 'labels')).sort()).to.deep.equal(['img1.2.jnl', 'img1.snap']);
    r = store.readLabels('s1', 'img1');
    expect([...r.snapshot!.labels]).to.deep.equal([4, 4]);
    expect(r.records).to.have.length(1);
  });

  it('keeps the segment being appended open (sizes = file sizes); a new segment, a deleted one or a deleted session closes it', async function () {
    if (process.platform !== 'linux') this.skip();
    const openJournals = () =>
      readdirSync('/proc/self/fd')
        .map((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`);
          } catch {
            return '';
          }
        })
        .filter((p) => p.startsWith(home) && p.endsWith('.jnl'))
        .map((p) => p.slice(p.lastIndexOf('/') + 1))
        .sort();
    const rec = (generation: number) => ({ generation, origin: [0, 0], shape: [1, 2], kind: 'annotation' as const, labels: Int32Array.from([1, 2]) });
    const file = (seg: number) => join(home, 'sessions', 's1', 'labels', `img1.${seg}.jnl`);
    const sizes = [await store.appendLabelRecord('s1', 'img1', 1, rec(1)), await store.appendLabelRecord('s1', 'img1', 1, rec(2))];
    expect(sizes[0]).to.be.greaterThan(0);
    expect(sizes[1]).to.equal(statSync(file(1)).size);
    expect(sizes[1]).to.equal(2 * sizes[0]);
    expect(openJournals()).to.deep.equal(['img1.1.jnl']);
    await store.appendLabelRecord('s1', 'img2', 1, rec(3));
    await store.appendLabelRecord('s1', 'img1', 2, rec(4));
    await new Promise((r) => setTimeout(r, 50)); // closing the old segment is not awaited by the append
    expect(openJournals()).to.deep.equal(['img1.2.jnl', 'img2.1.jnl']);
    expect(store.readLabels('s1', 'img1').records.map((r) => r.generation)).to.deep.equal([1, 2, 4]);
    await store.deleteJournalSegmentsBelow('s1', 'img1', 3);
    expect(openJournals()).to.deep.equal(['img2.1.jnl']);
    await store.deleteSession('s1');
    expect(openJournals()).to.deep.equal([]);
  });

  it('every journal write is durable on its own: the open segment carries O_DSYNC (Linux)', async function () {
    if (process.platform !== 'linux') this.skip();
    await store.appendLabelRecord('s1', 'img1', 1, { generation: 1, origin: [0, 0], shape: [1, 1], kind: 'annotation', labels: Int32Array.from([2]) });
    const fd = readdirSync('/proc/self/fd').find((f) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`).endsWith('img1.1.jnl');
      } catch {
        return false;
      }
    });
    expect(fd, 'the segment is open').to.be.a('string');
    const flags = Number.parseInt(/^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
    expect(flags & constants.O_DSYNC, 'O_DSYNC').to.equal(constants.O_DSYNC);
    expect(flags & constants.O_APPEND, 'O_APPEND').to.equal(constants.O_APPEND);
  });

  it('refuses ids that are not ids', async () => {
    expect(() => store.readLabels('s1', '../x')).to.throw(/not a valid id/);
    let err: unknown;
    try {
      await store.writeSessionMeta('../../etc', {});
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/not a valid id/);
  });
});
