import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code } from '../../src/errors.js';
import { validateMountFlags } from '../../src/node/mount-flags.js';
import { catchCode } from './assert-code.js';

describe('validateMountFlags', () => {
  it('accepts ordinary filesystem options, including a quoted SELinux context with commas', () => {
    const flags = [
      'rw',
      'noatime',
      'nodiratime',
      'relatime',
      'nodev',
      'nosuid',
      'noexec',
      'sync',
      'dirsync',
      'lazytime',
      'nosymfollow',
      'discard',
      'data=ordered',
      'commit=30',
      'errors=remount-ro',
      'barrier=0',
      'inode64',
      'allocsize=64k',
      'prjquota',
      'uid=1000',
      'context="system_u:object_r:container_file_t:s0:c1,c2"',
      'context=system_u:object_r:tmp_t:s0',
      'fscontext="system_u:object_r:removable_t"',
      'defaults',
    ];
    assert.deepEqual(validateMountFlags(flags), flags);
    assert.deepEqual(validateMountFlags([]), []);
    assert.deepEqual(validateMountFlags(['ro', 'noatime']), ['ro', 'noatime']);
  });

  it('refuses options mount(8) acts on itself, and device options, naming the flag', () => {
    const refused = [
      'loop',
      'loop=/dev/loop7',
      'offset=4096',
      'sizelimit=1048576',
      'encryption=aes',
      'bind',
      'rbind',
      'move',
      'remount',
      'shared',
      'rshared',
      'slave',
      'rslave',
      'private',
      'rprivate',
      'unbindable',
      'runbindable',
      'X-mount.mkdir',
      'X-mount.mkdir=0700',
      'X-mount.subdir=dir',
      'x-mount.mkdir',
      'X-mount.idmap=b:0:1000:1',
      'x-systemd.automount',
      'X-anything',
      'helper=nfs',
      'uhelper=udisks2',
      'user',
      'user=alice',
      'nouser',
      'users',
      'owner',
      'group',
      'nofail',
      'verity.hashdevice=/dev/sdb',
      'verity.roothash=ab12',
      'journal_path=/dev/sda1',
      'journal_dev=2049',
      'logdev=/dev/sdb',
      'rtdev=/dev/sdc',
      'BIND',
      'Loop',
    ];
    for (const flag of refused) {
      const error = catchCode(Code.INVALID_ARGUMENT, () => validateMountFlags(['noatime', flag]));
      assert.ok(error.message.includes(JSON.stringify(flag)), `names ${flag}: ${error.message}`);
      assert.match(error.message, /is not allowed/);
    }
  });

  it('refuses anything that is not exactly one option', () => {
    for (const flag of [
      '',
      'ro,exec',
      'ro,loop',
      ',ro',
      'ro ',
      ' ro',
      'a b',
      'data=ordered,bind',
      'context="unterminated',
      'context="a"b"',
      'opt=with\\backslash',
      'opt=new\nline',
      'nul\0',
      '=value',
      '-o',
    ]) {
      const error = catchCode(Code.INVALID_ARGUMENT, () => validateMountFlags([flag]));
      assert.match(error.message, /not a single mount option/, JSON.stringify(flag));
    }
  });
});
