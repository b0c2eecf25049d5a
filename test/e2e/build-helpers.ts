import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { extract } from 'tar-stream';
import { BERTH, berth, ENV, ok } from '../helpers.ts';

/** One path of an image's filesystem: what a layer diff would carry, minus times. */
export interface TreeEntry {
  type: string;
  mode: string;
  owner: string;
  link: string;
  sha: string;
  /** The file's text when it is short (for readable assertions). */
  text: string;
}

/** Files the runtime (not the build) puts into a container's root. */
const INJECTED = new Set(['etc/hosts', 'etc/resolv.conf', 'etc/hostname', 'run/.containerenv', '.dockerenv']);

export async function treeOfTar(tar: Buffer): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        const name = h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
        const body = Buffer.concat(chunks);
        if (name !== '' && !INJECTED.has(name)) {
          out.set(name, {
            type: h.type ?? 'file',
            mode: ((h.mode ?? 0) & 0o7777).toString(8),
            owner: `${h.uid ?? 0}:${h.gid ?? 0}`,
            link: h.linkname ?? '',
            sha: h.type === 'file' ? createHash('sha256').update(body).digest('hex') : '',
            text: body.length <= 200 ? body.toString() : '',
          });
        }
        next();
      });
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return out;
}

/** The filesystem of a Berth image, read from `berth export` of a container made from it. */
export async function berthTree(image: string): Promise<Map<string, TreeEntry>> {
  const id = ok(['create', image, 'true']).trim();
  try {
    const r = spawnSync(BERTH, ['export', id], { env: ENV, maxBuffer: 256 << 20 });
    if (r.status !== 0) throw new Error(`berth export failed: ${r.stderr}`);
    return await treeOfTar(r.stdout);
  } finally {
    berth(['rm', '-f', id]);
  }
}

/** Writes files (path → content) under dir, making parents. */
export function writeTree(dir: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
}

/** `berth build` with plain progress; throws with the output when it fails. */
export function build(args: string[], input?: string | Buffer): { stdout: string; stderr: string } {
  const r = berth(['build', '--progress=plain', ...args], { input, timeoutMs: 120_000 });
  if (r.code !== 0)
    throw new Error(`berth build ${args.join(' ')} exited ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r;
}

export function imageConfig(image: string): Record<string, unknown> {
  return JSON.parse(ok(['image', 'inspect', '-f', '{{json .Config}}', image])) as Record<string, unknown>;
}

/** The raw OCI config blob's history, read from `berth save`. */
export function imageHistory(image: string): Array<{ created_by?: string; empty_layer?: boolean }> {
  const r = spawnSync('sh', ['-c', `"${BERTH}" save "${image}" | tar -xO manifest.json`], { env: ENV });
  const manifest = JSON.parse(r.stdout.toString()) as Array<{ Config: string }>;
  const cfg = spawnSync('sh', ['-c', `"${BERTH}" save "${image}" | tar -xO "${manifest[0]!.Config}"`], {
    env: ENV,
    maxBuffer: 64 << 20,
  });
  return (
    JSON.parse(cfg.stdout.toString()) as { history: Array<{ created_by?: string; empty_layer?: boolean }> }
  ).history;
}

/** A gzip'd tar of `files`, each owned by uid/gid 1000 (to see what ADD keeps). */
export function makeTarGz(path: string, files: Record<string, string>, workDir: string): void {
  const src = join(workDir, `tar-src-${Date.now()}`);
  writeTree(src, files);
  execFileSync('tar', [
    '-czf',
    path,
    '-C',
    src,
    '--owner=1000',
    '--group=1000',
    '--numeric-owner',
    ...Object.keys(files).map((f) => f.split('/')[0]!),
  ]);
}
