import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BERTH, berth, ENV, ensureBusybox, ok, uniq, until } from '../helpers.ts';
import {
  berthTree,
  build,
  imageConfig,
  imageHistory,
  makeTarGz,
  type TreeEntry,
  treeOfTar,
  writeTree,
} from './build-helpers.ts';

/**
 * The Dockerfile corpus: every instruction and directive, built through `berth build`, each
 * image's filesystem (from `berth export`) and config checked against what docker (BuildKit)
 * produces; a few contexts compared with podman's build of the same files.
 */
const work = mkdtempSync(join(tmpdir(), 'berth-build-'));
const images: string[] = [];
function img(prefix: string): string {
  const n = uniq(prefix);
  images.push(n);
  return n;
}

before(() => ensureBusybox());
after(() => {
  for (const i of images) berth(['rmi', '-f', i]);
  rmSync(work, { recursive: true, force: true });
});

function context(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  writeTree(dir, files);
  return dir;
}

function entry(tree: Map<string, TreeEntry>, path: string): TreeEntry {
  const e = tree.get(path);
  assert.ok(e, `${path} is missing from the image`);
  return e;
}

function expectEntry(tree: Map<string, TreeEntry>, path: string, want: Partial<TreeEntry>): void {
  const e = entry(tree, path);
  for (const [k, v] of Object.entries(want)) assert.equal(e[k as keyof TreeEntry], v, `${path}: ${k}`);
}

describe('the instruction corpus', () => {
  let tree: Map<string, TreeEntry>;
  let cfg: Record<string, unknown>;
  let history: Array<{ created_by?: string; empty_layer?: boolean }>;
  const tag = img('corpus');

  before(async () => {
    const dir = context('corpus', {
      'a.txt': 'hello\n',
      'dir/d.txt': 'd\n',
      'dir/sub/s.txt': 'sub\n',
      'w1.txt': 'w1\n',
      'w2.txt': 'w2\n',
      'logs/keep.txt': 'keep\n',
      'logs/drop.log': 'drop\n',
      Dockerfile: `# syntax=docker/dockerfile:1
ARG BASE=busybox
ARG GLOBAL=g1
FROM --platform=$BUILDPLATFORM $BASE AS base
ARG GLOBAL
ARG TARGETPLATFORM
ARG TARGETARCH
ARG BUILDPLATFORM
RUN echo "$GLOBAL|$TARGETPLATFORM|$TARGETARCH|$BUILDPLATFORM" > /args.txt

FROM base AS builder
RUN mkdir -p /out && echo built > /out/b.txt && ln -s b.txt /out/blink

FROM scratch AS scratchy
COPY a.txt /s.txt

FROM base
ARG V=argv
ARG OVER=default
ENV V=envv
ENV E1=one E2="two words"
ENV E3 three four
ENV D=\${NOPE:-dflt} P=\${E1:+plus} Q=\${NOPE:+plus} R=\${E1:-x}
RUN echo "V=$V OVER=$OVER" > /v.txt
RUN ["/bin/sh", "-c", "echo exec > /exec.txt"]
RUN <<EOT
echo "heredoc $E1" > /h1.txt
EOT
RUN <<-'EOT'
	echo '$E1' > /h2.txt
	EOT
RUN <<EOT
#!/bin/sh
echo "shebang $0" > /h3.txt
EOT
RUN cat <<A > /h4.txt && cat <<"B" >> /h4.txt
x $E1
A
y $E1
B
WORKDIR rel
WORKDIR nested/deeper
USER nobody
WORKDIR /owned/by/nobody
USER root
COPY a.txt /opt/
COPY a.txt /optfile
COPY dir /cdir
COPY dir/ /cdir2/
COPY --chown=nobody:nogroup --chmod=640 a.txt /own/x/y/
COPY --chown=1234:5678 dir /numown
COPY <<EOT /hd.txt
hello $E1
EOT
COPY a.txt /linksrc.txt
RUN mkdir -p /existing && ln -s /linksrc.txt /abslink
COPY a.txt /existing
COPY a.txt rel.txt
COPY w*.txt /wild/
COPY --exclude=**/*.log logs/ /logs/
COPY --from=builder /out /fromstage
COPY --from=1 /out/b.txt /fromindex.txt
COPY --from=scratchy /s.txt /fromscratch.txt
COPY --link a.txt /linked.txt
ADD --chmod=600 a.txt /added.txt
ADD arch.tar.gz /extracted/
EXPOSE 80 53/udp
VOLUME /data
VOLUME ["/d2"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=2s --retries=3 --start-period=1s CMD true
LABEL a=b "c d"=e
SHELL ["/bin/sh", "-ec"]
RUN echo "$-" > /shellflags.txt
CMD echo hi
`,
    });
    makeTarGz(join(dir, 'arch.tar.gz'), { 'top/t.txt': 'in tar\n' }, work);
    build(['-t', tag, '--build-arg', 'OVER=given', dir]);
    [tree, cfg, history] = [await berthTree(tag), imageConfig(tag), imageHistory(tag)];
  });

  test('ARG: global in FROM, per-stage redeclaration, platform ARGs; --build-arg overrides', () => {
    const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
    assert.equal(entry(tree, 'args.txt').text, `g1|linux/${arch}|${arch}|linux/${arch}\n`);
    assert.equal(entry(tree, 'v.txt').text, 'V=envv OVER=given\n', 'ENV shadows ARG; --build-arg wins');
  });

  test('ENV: both forms and substitution rules', () => {
    const env = cfg.Env as string[];
    for (const e of ['V=envv', 'E1=one', 'E2=two words', 'E3=three four', 'D=dflt', 'P=plus', 'Q=', 'R=one'])
      assert.ok(env.includes(e), `${e} in ${env.join(', ')}`);
    assert.match(env[0]!, /^PATH=/);
  });

  test('RUN: exec form, heredocs (<<-, quoted, #! script, several on one line)', () => {
    assert.equal(entry(tree, 'exec.txt').text, 'exec\n');
    assert.equal(entry(tree, 'h1.txt').text, 'heredoc one\n');
    assert.equal(entry(tree, 'h2.txt').text, '$E1\n');
    assert.match(entry(tree, 'h3.txt').text, /^shebang \/dev\/pipes\/EOT\n$/);
    assert.equal(entry(tree, 'h4.txt').text, 'x one\ny $E1\n');
  });

  test('WORKDIR: relative, nested, created (owned by USER), also with no later file step', () => {
    expectEntry(tree, 'rel/nested/deeper', { type: 'directory', mode: '755', owner: '0:0' });
    expectEntry(tree, 'owned/by/nobody', { type: 'directory', owner: '65534:65534' });
    expectEntry(tree, 'owned', { owner: '65534:65534' });
    assert.equal(cfg.WorkingDir, '/owned/by/nobody');
  });

  test('COPY: files, directories (contents), trailing slashes, existing dirs, WORKDIR, wildcards', () => {
    expectEntry(tree, 'opt/a.txt', { type: 'file', mode: '644', owner: '0:0', text: 'hello\n' });
    expectEntry(tree, 'optfile', { type: 'file', text: 'hello\n' });
    expectEntry(tree, 'cdir/d.txt', { text: 'd\n' });
    expectEntry(tree, 'cdir/sub/s.txt', { text: 'sub\n' });
    assert.ok(!tree.has('cdir/dir'), 'a directory source copies its contents');
    expectEntry(tree, 'cdir2/sub/s.txt', { text: 'sub\n' });
    expectEntry(tree, 'existing/a.txt', { text: 'hello\n' });
    expectEntry(tree, 'existing', { type: 'directory' });
    expectEntry(tree, 'owned/by/nobody/rel.txt', { text: 'hello\n', owner: '0:0' });
    expectEntry(tree, 'wild/w1.txt', { text: 'w1\n' });
    expectEntry(tree, 'wild/w2.txt', { text: 'w2\n' });
    expectEntry(tree, 'abslink', { type: 'symlink', link: '/linksrc.txt' });
  });

  test('COPY --chown (names from /etc/passwd, numeric; created parents too) and --chmod', () => {
    expectEntry(tree, 'own/x/y/a.txt', { mode: '640', owner: '65534:65534' });
    expectEntry(tree, 'own/x/y', { type: 'directory', owner: '65534:65534' });
    expectEntry(tree, 'own', { owner: '65534:65534' });
    expectEntry(tree, 'numown/sub/s.txt', { owner: '1234:5678' });
    expectEntry(tree, 'numown/sub', { owner: '1234:5678' });
  });

  test('COPY heredoc, --exclude, --link, --from a stage by name, by index, from scratch', () => {
    expectEntry(tree, 'hd.txt', { text: 'hello one\n', mode: '644' });
    expectEntry(tree, 'logs/keep.txt', { text: 'keep\n' });
    assert.ok(!tree.has('logs/drop.log'));
    expectEntry(tree, 'linked.txt', { text: 'hello\n' });
    expectEntry(tree, 'fromstage/b.txt', { text: 'built\n' });
    expectEntry(tree, 'fromstage/blink', { type: 'symlink', link: 'b.txt' });
    expectEntry(tree, 'fromindex.txt', { text: 'built\n' });
    expectEntry(tree, 'fromscratch.txt', { text: 'hello\n' });
  });

  test('ADD: --chmod, local tar.gz extracted keeping the archive owners', () => {
    expectEntry(tree, 'added.txt', { mode: '600', text: 'hello\n' });
    expectEntry(tree, 'extracted/top/t.txt', { text: 'in tar\n', owner: '1000:1000' });
    assert.ok(!tree.has('extracted/arch.tar.gz'));
  });

  test('config: CMD (with SHELL), EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK (ns), LABEL, Shell, User', () => {
    assert.deepEqual(cfg.Cmd, ['/bin/sh', '-ec', 'echo hi']);
    assert.equal(cfg.Entrypoint, null);
    assert.deepEqual(cfg.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
    assert.deepEqual(cfg.Volumes, { '/data': {}, '/d2': {} });
    assert.equal(cfg.StopSignal, 'SIGUSR1');
    assert.deepEqual(cfg.Healthcheck, {
      Test: ['CMD-SHELL', 'true'],
      Interval: 5e9,
      Timeout: 2e9,
      StartPeriod: 1e9,
      Retries: 3,
    });
    assert.deepEqual(cfg.Labels, { a: 'b', 'c d': 'e' });
    assert.deepEqual(cfg.Shell, ['/bin/sh', '-ec']);
    assert.equal(cfg.User, 'root');
    assert.match(entry(tree, 'shellflags.txt').text, /e/, 'SHELL applies to later RUNs');
  });

  test('history: BuildKit created_by lines and empty_layer flags', () => {
    const lines = history.map((h) => `${h.empty_layer ? 'E' : 'L'} ${h.created_by ?? ''}`);
    for (const want of [
      'E ARG V=argv',
      'E ARG OVER=given',
      'E ENV V=envv',
      'E ENV E1=one E2=two words',
      'L RUN |2 V=envv OVER=given /bin/sh -c echo "V=$V OVER=$OVER" > /v.txt # buildkit',
      'L RUN |2 V=envv OVER=given /bin/sh -c /dev/pipes/EOT # buildkit',
      'L WORKDIR /rel/nested/deeper',
      'E USER nobody',
      'L COPY a.txt /opt/ # buildkit',
      'L COPY --chown=nobody:nogroup --chmod=640 a.txt /own/x/y/ # buildkit',
      'L COPY <<EOT /hd.txt # buildkit',
      'L COPY /out /fromstage # buildkit',
      'E EXPOSE [80/tcp 53/udp]',
      'E VOLUME [/data]',
      'E STOPSIGNAL SIGUSR1',
      'E HEALTHCHECK {Test:[CMD-SHELL true] Interval:5s Timeout:2s StartPeriod:1s StartInterval:0s Retries:3}',
      'E LABEL a=b c d=e',
      'E SHELL [/bin/sh -ec]',
      'E CMD ["/bin/sh" "-ec" "echo hi"]',
    ])
      assert.ok(lines.includes(want), `history has "${want}":\n${lines.join('\n')}`);
    const layers = history.filter((h) => !h.empty_layer).length;
    const diffIds = JSON.parse(ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', tag])) as string[];
    assert.equal(layers, diffIds.length, 'one non-empty history entry per layer');
  });
});

describe('ENTRYPOINT, ONBUILD, USER, escape, syntax', () => {
  test('ENTRYPOINT shell and exec form; it resets an inherited CMD; ONBUILD triggers run in a child', () => {
    const parent = img('parent');
    const dir = context('onbuild', {
      'f.txt': 'from child context\n',
      Dockerfile:
        'FROM busybox\nONBUILD COPY f.txt /onbuild.txt\nONBUILD RUN echo ran > /ran.txt\nCMD ["sh"]\n',
    });
    build(['-t', parent, dir]);
    const pc = imageConfig(parent);
    assert.deepEqual(pc.OnBuild, ['COPY f.txt /onbuild.txt', 'RUN echo ran > /ran.txt']);
    const child = img('child');
    writeFileSync(join(dir, 'Dockerfile.child'), `FROM ${parent}\nENTRYPOINT ["echo", "ep"]\n`);
    build(['-t', child, '-f', join(dir, 'Dockerfile.child'), dir]);
    const cc = imageConfig(child);
    assert.deepEqual(cc.Entrypoint, ['echo', 'ep']);
    assert.equal(cc.Cmd, null, 'ENTRYPOINT resets the inherited CMD');
    assert.equal(cc.OnBuild, null, 'triggers are not inherited by grandchildren');
    assert.equal(
      ok(['run', '--rm', child, 'cat', '/onbuild.txt', '/ran.txt']),
      'ep cat /onbuild.txt /ran.txt\n',
    );
    const shellEp = img('shellep');
    build(['-t', shellEp, '-'], 'FROM busybox\nCMD ["x"]\nENTRYPOINT echo "$HOME" sh-form\n');
    const sc = imageConfig(shellEp);
    assert.deepEqual(sc.Entrypoint, ['/bin/sh', '-c', 'echo "$HOME" sh-form']);
    assert.deepEqual(sc.Cmd, ['x'], 'a CMD of the same stage stays');
    assert.equal(ok(['run', '--rm', shellEp]), '/root sh-form\n');
  });

  test('USER: RUN runs as that user; # escape=` changes the escape char', () => {
    const t = img('escape');
    build(
      ['-t', t, '-'],
      "# escape=`\nFROM busybox\nUSER nobody\nRUN id -u > /tmp/uid && `\n    echo 'C:\\path' > /tmp/p\nUSER 0\n",
    );
    assert.equal(ok(['run', '--rm', t, 'cat', '/tmp/uid', '/tmp/p']), '65534\nC:\\path\n');
  });

  test('# syntax: docker/dockerfile:1.x is built in; anything else is a clear error', () => {
    build(['-q', '-'], '# syntax=docker/dockerfile:1.7\nFROM busybox\n');
    const r = berth(['build', '-'], { input: '# syntax=foo/bar\nFROM busybox\n' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /foo\/bar/);
  });
});

describe('RUN --mount and --network', () => {
  test('cache (persists across builds), bind (context, stage), secret (not in the image), tmpfs, network=none', async () => {
    const t = img('mounts');
    const dir = context('mounts', {
      'bound/b.txt': 'bound\n',
      Dockerfile: `FROM busybox AS st
RUN echo from-stage > /st.txt
FROM busybox
ARG N
RUN --mount=type=cache,id=${t},target=/cache echo "$N" >> /cache/log && cat /cache/log > /cachelog.txt
RUN --mount=type=bind,source=bound,target=/b cat /b/b.txt > /bind.txt
RUN --mount=type=bind,from=st,source=/st.txt,target=/st.txt cat /st.txt > /bindstage.txt
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null && wc -c < /run/secrets/tok > /secretlen.txt
RUN --mount=type=tmpfs,target=/scratch grep -q ' /scratch tmpfs' /proc/mounts && echo tmp > /scratch/x && echo ok > /tmpfs.txt
RUN --network=none sh -c 'ip -o link | grep -v " lo" | wc -l > /links.txt'
`,
    });
    const secret = join(work, 'tok');
    writeFileSync(secret, 'TOPSECRET-123');
    build(['-t', t, '--build-arg', `N=${t}-1`, '--secret', `id=tok,src=${secret}`, dir]);
    build(['-t', t, '--build-arg', `N=${t}-2`, '--secret', `id=tok,src=${secret}`, dir]);
    const tree = await berthTree(t);
    const log = entry(tree, 'cachelog.txt').text;
    assert.ok(log.includes(`${t}-1\n${t}-2\n`), `the cache mount kept the first build's line: ${log}`);
    assert.equal(entry(tree, 'bind.txt').text, 'bound\n');
    assert.equal(entry(tree, 'bindstage.txt').text, 'from-stage\n');
    assert.equal(entry(tree, 'secretlen.txt').text.trim(), '13');
    assert.equal(entry(tree, 'tmpfs.txt').text, 'ok\n');
    assert.ok(!tree.has('scratch/x') && !tree.has('cache/log') && !tree.has('b/b.txt'));
    assert.equal(entry(tree, 'links.txt').text.trim(), '0', 'no interface but lo with --network=none');
    for (const [path, e] of tree) assert.ok(!e.text.includes('TOPSECRET'), `secret leaked into ${path}`);
    assert.ok(!tree.has('run/secrets/tok'));
  });
});

describe('ADD from URLs', () => {
  let server: ChildProcess;
  let port = 0;
  before(async () => {
    writeTree(join(work, 'www'), { 'remote.txt': 'remote body\n' });
    port = 20000 + (process.pid % 20000);
    server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1'], {
      cwd: join(work, 'www'),
      stdio: 'ignore',
    });
    await until(() => fetchOk(port), 10_000, 'the http server');
  });
  after(() => server?.kill());

  test('a URL source, --checksum good and bad, --chown', async () => {
    const sum = `sha256:${createHash('sha256').update('remote body\n').digest('hex')}`;
    const t = img('url');
    const url = `http://127.0.0.1:${port}/remote.txt`;
    build(
      ['-t', t, '-'],
      `FROM busybox\nADD ${url} /r1.txt\nADD --checksum=${sum} --chown=nobody ${url} /dl/\n`,
    );
    const tree = await berthTree(t);
    expectEntry(tree, 'r1.txt', { text: 'remote body\n', mode: '600', owner: '0:0' });
    expectEntry(tree, 'dl/remote.txt', { text: 'remote body\n', owner: '65534:65534' });
    const bad = berth(['build', '-'], {
      input: `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} ${url} /r.txt\n`,
    });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /digest mismatch/);
  });
});

function fetchOk(port: number): boolean {
  return (
    spawnSync('python3', ['-c', `import urllib.request;urllib.request.urlopen('http://127.0.0.1:${port}/')`])
      .status === 0
  );
}

describe('contexts and options', () => {
  test('.dockerignore with ! exceptions and **; -f with its own X.dockerignore', async () => {
    const dir = context('ignore', {
      'keep.txt': 'k\n',
      'a/b/deep.tmp': 'x\n',
      'a/keep.tmp': 'x\n',
      'secret.env': 's\n',
      '.dockerignore': '**/*.tmp\n!a/keep.tmp\nsecret.env\n',
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\n',
      'other.Dockerfile': 'FROM busybox\nCOPY . /ctx/\n',
      'other.Dockerfile.dockerignore': 'keep.txt\n',
    });
    const t = img('ignore');
    build(['-t', t, dir]);
    const tree = await berthTree(t);
    assert.ok(tree.has('ctx/keep.txt') && tree.has('ctx/a/keep.tmp'));
    assert.ok(!tree.has('ctx/a/b/deep.tmp') && !tree.has('ctx/secret.env'));
    const t2 = img('ignore2');
    build(['-t', t2, '-f', join(dir, 'other.Dockerfile'), dir]);
    const tree2 = await berthTree(t2);
    assert.ok(!tree2.has('ctx/keep.txt'), 'X.dockerignore next to the Dockerfile wins');
    assert.ok(tree2.has('ctx/secret.env') && tree2.has('ctx/a/b/deep.tmp'));
  });

  test('a tar context on stdin; several -t, --label, --iidfile, -q', () => {
    const dir = context('tarctx', { 'in.txt': 'from tar\n', Dockerfile: 'FROM busybox\nCOPY in.txt /\n' });
    const tar = spawnSync('tar', ['-c', '-C', dir, '.']).stdout;
    const [t1, t2] = [img('tar1'), img('tar2')];
    const iid = join(work, 'iid');
    const r = build(['-q', '-t', t1, '-t', `${t2}:v2`, '--label', 'from=cli', '--iidfile', iid, '-'], tar);
    const id = readFileSync(iid, 'utf8');
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(r.stdout, `${id}\n`, '-q prints only the ID');
    assert.equal(ok(['image', 'inspect', '-f', '{{.Id}}', `${t2}:v2`]).trim(), id);
    assert.equal(ok(['image', 'inspect', '-f', '{{.Id}}', t1]).trim(), id);
    assert.equal(ok(['image', 'inspect', '-f', '{{index .Config.Labels "from"}}', t1]), 'cli\n');
    assert.equal(ok(['run', '--rm', t1, 'cat', '/in.txt']), 'from tar\n');
  });

  test('--target builds only the stages it needs; --output local and tar', async () => {
    const dir = context('target', {
      Dockerfile: `FROM busybox AS broken
RUN exit 3
FROM busybox AS dep
RUN echo dep > /dep.txt
FROM scratch AS out
COPY --from=dep /dep.txt /
FROM broken
`,
    });
    const local = join(work, 'out-local');
    const tarOut = join(work, 'out.tar');
    build(['--target', 'out', '--output', `type=local,dest=${local}`, dir]);
    assert.equal(readFileSync(join(local, 'dep.txt'), 'utf8'), 'dep\n');
    build(['--target', 'out', '--output', `type=tar,dest=${tarOut}`, dir]);
    const tree = await treeOfTar(readFileSync(tarOut));
    assert.deepEqual([...tree.keys()], ['dep.txt']);
    assert.notEqual(berth(['build', dir]).code, 0, 'the last stage does need the failing one');
  });
});

describe('compared with podman (buildah) from the same context', () => {
  const root = join(work, 'podman');
  const podman = (args: string[], input?: Buffer) =>
    spawnSync(
      'podman',
      [
        '--root',
        join(root, 'root'),
        '--runroot',
        join(root, 'run'),
        '--storage-driver',
        'vfs',
        '--cgroup-manager',
        'cgroupfs',
        '--events-backend',
        'file',
        '--runtime',
        'runc',
        ...args,
      ],
      { input, maxBuffer: 256 << 20 },
    );

  test('same filesystem tree and config for a representative Dockerfile', async () => {
    const bb = spawnSync(BERTH, ['save', 'busybox'], { env: ENV, maxBuffer: 64 << 20 });
    const loaded = podman(['load'], bb.stdout);
    assert.equal(loaded.status, 0, loaded.stderr.toString());
    const dir = context('cmp', {
      'app/main.sh': '#!/bin/sh\necho main\n',
      'app/lib/util.sh': 'util\n',
      'conf.ini': 'k=v\n',
      Dockerfile: `FROM busybox
ENV APP=/srv/app
WORKDIR $APP
COPY app/ ./
COPY --chown=nobody:nogroup conf.ini /etc/app/
COPY --chmod=0755 conf.ini /usr/local/bin/tool
RUN mkdir -p data && echo x > data/x && ln -s data/x xlink && rm -f /etc/group- && chmod 700 data
USER nobody
CMD ["./main.sh"]
`,
    });
    const t = img('cmp');
    build(['-t', t, dir]);
    const pb = podman(['build', '--pull=never', '-t', 'localhost/cmp', dir]);
    assert.equal(pb.status, 0, pb.stderr.toString());
    const cid = podman(['create', 'localhost/cmp']).stdout.toString().trim();
    // podman export opens /dev/stdout, which a pipe from spawnSync cannot be: write a file.
    const ptar = join(work, 'podman-export.tar');
    const exp = podman(['export', '-o', ptar, cid]);
    assert.equal(exp.status, 0, exp.stderr.toString());
    const ptree = await treeOfTar(readFileSync(ptar));
    const btree = await berthTree(t);
    const show = (m: Map<string, TreeEntry>) =>
      [...m]
        .filter(
          ([p]) =>
            !p.startsWith('run') && !p.startsWith('proc') && !p.startsWith('sys') && !p.startsWith('dev'),
        )
        .map(([p, e]) => `${p} ${e.type} ${e.mode} ${e.owner} ${e.link} ${e.sha}`)
        .sort();
    const [b, p] = [show(btree), show(ptree)];
    assert.deepEqual(
      b.filter((l) => !p.includes(l)),
      p.filter((l) => !b.includes(l)),
      'Berth-only lines vs podman-only lines',
    );
    const pcfg = JSON.parse(
      podman(['image', 'inspect', '-f', '{{json .Config}}', 'localhost/cmp']).stdout.toString(),
    );
    const bcfg = imageConfig(t);
    for (const k of ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User'])
      assert.deepEqual(bcfg[k] ?? null, pcfg[k] ?? null, k);
    podman(['rm', '-f', cid]);
  });
});
