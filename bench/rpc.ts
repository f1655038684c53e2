/**
 * npm run bench -- rpc [--sessions 20] [--patches 1000] [--full 60] [--info 2000] [--interval 250]
 * Latency of labels.update for a 512x512 patch and a full 2048x2048 layer, and of server.info, with 20
 * sessions against a spawned daemon, in two regimes:
 *  - paced: every session sends one update every --interval ms (people painting; 20 x 4/s = 80 updates/s);
 *  - saturated: every session sends its next update as soon as the previous one is answered (closed loop), so
 *    latency = queueing behind the other 19 sessions; reported with the throughput it reaches.
 * Goal: patch p99 <= 10 ms.
 * Every labels.update is durable (journal fsync) before it is answered, so these figures include the fsync.
 * --warmup N (default 5) paced patches per session run first and are reported apart (`warmup`), not in the figures;
 * --rounds N repeats the paced patch phase N times (figures over all of them, and per round).
 */
import { SparsecellClient } from '../clients/typescript/src/client.js';
import { encodeNdArray } from '../protocol/src/ndarray.js';
import { flag, log, spawnDaemon, stats } from './helpers.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const nSessions = flag(args, 'sessions', 20);
  const nPatches = flag(args, 'patches', 1000);
  const nFull = flag(args, 'full', 60);
  const nInfo = flag(args, 'info', 2000);
  const d = await spawnDaemon();
  try {
    const S = 2048,
      P = 512;
    const clients: SparsecellClient[] = [];
    const sessions: string[] = [];
    const image = encodeNdArray(new Uint8Array(S * S), [S, S]);
    for (let i = 0; i < nSessions; i++) {
      const c = await SparsecellClient.connect(d.url);
      const { sessionId } = await c.call('session.create', { name: `bench${i}` });
      await c.call('image.add', { sessionId, image });
      clients.push(c);
      sessions.push(sessionId);
    }
    // Pre-encoded payloads: a sparse offset-1 patch (a background stroke and two objects), and a full layer.
    const patch = new Uint16Array(P * P);
    for (let y = 0; y < 40; y++) for (let x = 0; x < P; x++) patch[y * P + x] = 1;
    for (let y = 100; y < 130; y++) for (let x = 100; x < 130; x++) patch[y * P + x] = 2;
    for (let y = 300; y < 320; y++) for (let x = 200; x < 235; x++) patch[y * P + x] = 3;
    const patchNd = encodeNdArray(patch, [P, P], { deflate: true });
    const full = new Uint16Array(S * S);
    for (let i = 0; i < S * 64; i++) full[i] = 1;
    const fullNd = encodeNdArray(full, [S, S], { deflate: true });

    /** Open loop: each session fires one call every intervalMs, without waiting for earlier answers. */
    async function paced(n: number, intervalMs: number, call: (c: SparsecellClient, sessionId: string, i: number) => Promise<unknown>): Promise<number[]> {
      const lat: number[] = [];
      const perSession = Math.ceil(n / clients.length);
      await Promise.all(
        clients.map(async (c, k) => {
          await new Promise((r) => setTimeout(r, (k * intervalMs) / clients.length));
          const calls: Promise<void>[] = [];
          for (let j = 0; j < perSession; j++) {
            const t = process.hrtime.bigint();
            calls.push(call(c, sessions[k], k * perSession + j).then(() => void lat.push(Number(process.hrtime.bigint() - t) / 1e6)));
            await new Promise((r) => setTimeout(r, intervalMs));
          }
          await Promise.all(calls);
        }),
      );
      return lat;
    }

    async function measure(n: number, call: (c: SparsecellClient, sessionId: string, i: number) => Promise<unknown>): Promise<number[]> {
      const lat: number[] = [];
      let next = 0;
      await Promise.all(
        clients.map(async (c, k) => {
          for (let i = next++; i < n; i = next++) {
            const t = process.hrtime.bigint();
            await call(c, sessions[k], i);
            lat.push(Number(process.hrtime.bigint() - t) / 1e6);
          }
        }),
      );
      return lat;
    }

    const interval = flag(args, 'interval', 250);
    const patchCall = (c: SparsecellClient, sessionId: string, i: number) =>
      c.call('labels.update', { sessionId, imageId: 'img1', labels: patchNd, encoding: 'offset1', origin: [(i * 512) % 1536, (i * 1024) % 1536] });
    const fullCall = (c: SparsecellClient, sessionId: string) => c.call('labels.update', { sessionId, imageId: 'img1', labels: fullNd, encoding: 'offset1' });
    const infoCall = (c: SparsecellClient) => c.call('server.info', {});
    log(`rpc bench: ${nSessions} sessions, paced (one call per session every ${interval} ms)`);
    // Warm-up, not measured: the first patches of a fresh daemon pay one-time costs (JIT compilation of the decode and
    // apply paths); their latencies are kept as `warmup` so that cost stays visible.
    const nWarmup = flag(args, 'warmup', 5);
    const warm = await paced(nWarmup * clients.length, interval, patchCall);
    const pacedInfo = await paced(nInfo / 2, interval / 4, infoCall);
    // --rounds N repeats the paced patch phase: the figures pool every round's samples (a steadier p99), and each
    // round's own figures are kept in `patch512Rounds`.
    const rounds = flag(args, 'rounds', 1);
    const patchRounds: number[][] = [];
    for (let r = 0; r < rounds; r++) patchRounds.push(await paced(nPatches, interval, patchCall));
    const pacedPatch = patchRounds.flat();
    const pacedFull = await paced(nFull, interval * 8, fullCall);
    log('saturated (closed loop)');
    let t = Date.now();
    const info = await measure(nInfo, infoCall);
    const infoRate = nInfo / ((Date.now() - t) / 1000);
    t = Date.now();
    const patches = await measure(nPatches, patchCall);
    const patchRate = nPatches / ((Date.now() - t) / 1000);
    t = Date.now();
    const fulls = await measure(nFull, fullCall);
    const fullRate = nFull / ((Date.now() - t) / 1000);
    const backend = (await clients[0].call('server.info', {})).backend;
    for (const c of clients) await c.close();
    const result = {
      backend,
      sessions: nSessions,
      durable: "every labels.update is fsync'd before its answer",
      warmup: { patchesPerSession: nWarmup, patch512Ms: stats(warm) },
      paced: {
        intervalMs: { serverInfo: interval / 4, patch512: interval, full2048: interval * 8 },
        serverInfoMs: stats(pacedInfo),
        patch512Ms: stats(pacedPatch),
        patch512Rounds: patchRounds.map(stats),
        full2048Ms: stats(pacedFull),
      },
      saturated: {
        serverInfoMs: stats(info),
        serverInfoPerS: Math.round(infoRate),
        patch512Ms: stats(patches),
        patch512PerS: Math.round(patchRate),
        full2048Ms: stats(fulls),
        full2048PerS: Math.round(fullRate * 10) / 10,
      },
      payloadBytes: { patch512: JSON.stringify(patchNd).length, full2048: JSON.stringify(fullNd).length },
      goal: { patch512P99Ms: 10 },
    };
    log(JSON.stringify(result, null, 2));
    return result;
  } finally {
    await d.stop();
  }
}
