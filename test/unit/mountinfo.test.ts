import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountInfo } from '../../src/host/mountinfo.js';
import type { MountEntry } from '../../src/host/mountinfo.js';

// Lines as the kernel writes them (proc(5)): optional fields, then "-", then fs type, source and
// super options. Spaces, tabs, newlines and backslashes in paths are written as \ooo octal.
const SAMPLE = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro',
  '23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '61 22 0:5 / /dev rw,nosuid,relatime shared:2 master:3 - devtmpfs udev rw,size=8123456k,nr_inodes=2030864,mode=755',
  '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 propagate_from:2 unbindable - ext3 /dev/root rw,errors=continue',
  '120 22 7:0 / /var/lib/dolly/pool rw,relatime - xfs /dev/loop0 rw,attr2,inode64,logbufs=8,logbsize=32k,noquota',
  '121 120 7:0 /volumes/vol-0123456789abcdef0123456789abcdef/data /var/lib/kubelet/pods/p\\040q/volumes/x rw,relatime shared:40 - xfs /dev/loop0 rw,attr2',
  '130 22 0:60 /dir\\011with\\134tab /mnt/with\\040space\\040and\\012newline rw,nosuid - fuse.sshfs user@host:/remote\\040dir rw,user_id=0',
  '131 22 0:61 / /mnt/back\\134slash\\134040literal ro - tmpfs my\\040src\\011tab\\134back ro',
].join('\n');

function entries(): MountEntry[] {
  return parseMountInfo(`${SAMPLE}\n`);
}

describe('parseMountInfo', () => {
  it('parses every line, skipping the final newline and blank lines', () => {
    assert.equal(entries().length, 8);
    assert.equal(parseMountInfo(`\n${SAMPLE}\n\n  \n`).length, 8);
    assert.deepEqual(parseMountInfo(''), []);
  });

  it('reads all fields of a line without optional fields', () => {
    assert.deepEqual(entries()[4], {
      id: 120,
      parentId: 22,
      device: '7:0',
      root: '/',
      mountPoint: '/var/lib/dolly/pool',
      mountOptions: ['rw', 'relatime'],
      fsType: 'xfs',
      source: '/dev/loop0',
      superOptions: ['rw', 'attr2', 'inode64', 'logbufs=8', 'logbsize=32k', 'noquota'],
    });
  });

  it('skips one or more optional fields (shared:N master:N propagate_from:N unbindable)', () => {
    const [root, proc, dev, bind] = entries();
    assert.deepEqual(root, {
      id: 22,
      parentId: 1,
      device: '8:1',
      root: '/',
      mountPoint: '/',
      mountOptions: ['rw', 'relatime'],
      fsType: 'ext4',
      source: '/dev/sda1',
      superOptions: ['rw', 'errors=remount-ro'],
    });
    assert.equal(proc?.fsType, 'proc');
    assert.equal(proc?.source, 'proc');
    assert.equal(dev?.mountPoint, '/dev');
    assert.equal(dev?.fsType, 'devtmpfs');
    assert.equal(dev?.source, 'udev');
    assert.deepEqual(dev?.superOptions, ['rw', 'size=8123456k', 'nr_inodes=2030864', 'mode=755']);
    assert.equal(bind?.root, '/mnt1');
    assert.equal(bind?.mountPoint, '/mnt2');
    assert.deepEqual(bind?.mountOptions, ['rw', 'noatime']);
    assert.equal(bind?.fsType, 'ext3');
    assert.equal(bind?.source, '/dev/root');
  });

  it('reads the root of a bind mount and unescapes \\040 in the mount point', () => {
    const entry = entries()[5];
    assert.equal(entry?.root, '/volumes/vol-0123456789abcdef0123456789abcdef/data');
    assert.equal(entry?.mountPoint, '/var/lib/kubelet/pods/p q/volumes/x');
    assert.equal(entry?.parentId, 120);
  });

  it('unescapes space, tab, newline and backslash in root, mount point and source', () => {
    const entry = entries()[6];
    assert.equal(entry?.root, '/dir\twith\\tab');
    assert.equal(entry?.mountPoint, '/mnt/with space and\nnewline');
    assert.equal(entry?.fsType, 'fuse.sshfs');
    assert.equal(entry?.source, 'user@host:/remote dir');
    assert.deepEqual(entry?.superOptions, ['rw', 'user_id=0']);
  });

  it('unescapes each sequence once, so an escaped backslash followed by digits stays literal', () => {
    const entry = entries()[7];
    assert.equal(entry?.mountPoint, '/mnt/back\\slash\\040literal');
    assert.equal(entry?.source, 'my src\ttab\\back');
    assert.deepEqual(entry?.mountOptions, ['ro']);
  });

  it('throws on a line without the separator or with too few fields after it', () => {
    assert.throws(
      () => parseMountInfo('this is not a mountinfo line'),
      /unexpected \/proc\/self\/mountinfo line/,
    );
    assert.throws(() => parseMountInfo('22 1 8:1 / / rw,relatime shared:1 - ext4'), /unexpected/);
    assert.throws(() => parseMountInfo('22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1'), /unexpected/);
    assert.throws(() => parseMountInfo('22 1 8:1 / - rw'), /unexpected/);
    assert.throws(() => parseMountInfo(`${SAMPLE}\ngarbage`), /garbage/);
  });
});
