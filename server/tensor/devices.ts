/**
 * The compute devices of this machine, for server.info.backend.devices: the CPU (model, logical cores, memory)
 * and NVIDIA GPUs as `nvidia-smi` reports them (name, memory). Whether TensorFlow actually placed its ops on a
 * GPU is BackendInfo.gpu, TensorFlow's own answer; this list is what was found to use.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';

export interface DeviceInfo {
  type: 'CPU' | 'GPU';
  name: string;
  /** CPU: logical cores. */
  cores?: number;
  memoryBytes?: number;
}

/** Parse `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits` (memory in MiB). */
export function parseNvidiaSmi(out: string): DeviceInfo[] {
  const gpus: DeviceInfo[] = [];
  for (const line of out.split('\n')) {
    const m = /^(.+?),\s*(\d+)\s*$/.exec(line.trim());
    if (m) gpus.push({ type: 'GPU', name: m[1].trim(), memoryBytes: Number(m[2]) * 1024 * 1024 });
  }
  return gpus;
}

function nvidiaGpus(): Promise<DeviceInfo[]> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], { timeout: 5000, encoding: 'utf8' }, (err, stdout) =>
      resolve(err ? [] : parseNvidiaSmi(stdout)),
    );
  });
}

export async function listDevices(): Promise<DeviceInfo[]> {
  const cpus = os.cpus();
  const cpu: DeviceInfo = { type: 'CPU', name: cpus[0]?.model.trim() || os.arch(), cores: os.availableParallelism(), memoryBytes: os.totalmem() };
  return [cpu, ...(await nvidiaGpus())];
}
