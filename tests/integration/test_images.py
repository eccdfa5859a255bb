"""Image tarballs that try to reach outside, and the image cache.

stdmpi unpacks an --image tarball itself (libshim/image_unpack.h): nothing in
it (a "..", a link to a host directory, a hard link, a device node, a setuid
bit) may make the unpacking create, read or write anything outside the image,
and the container gets a /dev of its own. The cache is the user's alone.
Each archive is made with Python's tarfile and run through a real job, as
root and as a normal user; the host is checked afterwards.
"""
import io
import os
import pwd
import shutil
import stat
import subprocess
import tarfile
import tempfile
import unittest

import harness
from harness import require
from test_isolation import image_workspace

# What /dev holds in every container with an image.
MINIMAL_DEV = ["fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
               "tty", "urandom", "zero"]


def add_file(t: tarfile.TarFile, name: str, data: bytes = b"", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 1_700_000_000
    t.addfile(info, io.BytesIO(data))


def add_special(t: tarfile.TarFile, name: str, kind: bytes, target: str = "", mode: int = 0o755,
                dev=(0, 0)) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, target, mode, 1_700_000_000
    info.devmajor, info.devminor = dev
    t.addfile(info)


class ImageCase(unittest.TestCase):
    def setUp(self):
        image_workspace(self, "stdmpi-images-")
        self.cache = os.path.join(self.dir, "cache")
        # Outside /tmp (a container's /tmp is its own), where a careless
        # unpacking would write through a link.
        self.outside = tempfile.mkdtemp(prefix="stdmpi-outside-", dir="/var/tmp")
        os.chmod(self.outside, 0o777)
        self.addCleanup(shutil.rmtree, self.outside, True)
        self.victim = os.path.join(self.outside, "victim")
        with open(self.victim, "w") as f:
            f.write("the host's file\n")
        os.chmod(self.victim, 0o666)

    def archive(self, name: str, members) -> str:
        """The test rootfs plus `members(tarfile)`, as NAME.tar.gz anyone can read."""
        path = os.path.join(self.dir, name + ".tar.gz")
        with tarfile.open(path, "w:gz") as t:
            t.add(self.root, arcname=".")
            members(t)
        os.chmod(path, 0o644)
        return path

    def run_image(self, image: str, script: str, user: harness.UserCopy = None,
                  cache: str = None) -> harness.Job:
        env = {"STDMPI_IMAGE_CACHE": cache or self.cache}
        argv = ["--image", image, "-n", "1", "sh", "-c", script]
        if user is None:
            return harness.stdmpirun(*argv, cwd=self.work, env=env, timeout=60)
        p = subprocess.run(["runuser", "-u", user.user, "--", user.stdmpirun(), *argv],
                           capture_output=True, text=True, timeout=60, cwd=self.work,
                           env={**user.env, **env})
        return harness.Job(p.returncode, p.stdout, p.stderr, 0)

    def assert_host_untouched(self) -> None:
        self.assertEqual(sorted(os.listdir(self.outside)), ["victim"])
        with open(self.victim) as f:
            self.assertEqual(f.read(), "the host's file\n")


class HostileArchives(ImageCase):
    def test_a_path_that_goes_up_is_refused(self):
        cases = [
            ("up", lambda t: add_file(t, "../escape", b"x"), '"../escape" goes up'),
            ("deep", lambda t: add_file(t, "bin/../../escape", b"x"), '"bin/../../escape" goes up'),
            ("hard", lambda t: add_special(t, "etc/hl", tarfile.LNKTYPE, "../../../etc/passwd"),
             '"etc/hl" is a hard link to "../../../etc/passwd", which goes up'),
        ]
        for name, members, message in cases:
            with self.subTest(case=name):
                image = self.archive(name, members)
                job = self.run_image(image, "echo ran")
                self.assertEqual(job.rc, 126, job.describe())
                self.assertNotIn("ran", job.stdout)
                self.assertIn(f"image {image}: member {message} a directory (\"..\"): refused",
                              job.stderr)
                # Nothing where a careless unpacking would have put it,
                # nothing half-unpacked left in the cache.
                for where in (self.dir, self.cache):
                    self.assertFalse(os.path.lexists(os.path.join(where, "escape")))
                self.assertFalse(os.path.lexists(os.path.join(self.cache, "etc")))
                self.assertEqual([f for f in os.listdir(self.cache) if not f.endswith(".lock")],
                                 [])

    def hostile_links(self, t: tarfile.TarFile) -> None:
        # A link to a host directory, then a member through it; a link that
        # climbs past the root, then a member through it.
        parts = self.outside.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            add_special(t, "/".join(parts[:i]), tarfile.DIRTYPE)
        add_special(t, "out", tarfile.SYMTYPE, self.outside)
        add_file(t, "out/planted", b"inside the image\n")
        add_special(t, "up", tarfile.SYMTYPE, "../../../../../../..")
        add_file(t, "up/etc/planted", b"also inside\n")
        # A link to a host file, then a file of the same name: the link is
        # replaced, not written through.
        add_special(t, "etc/victim", tarfile.SYMTYPE, self.victim)
        add_file(t, "etc/victim", b"the image's own\n")
        # A hard link with an absolute target: the image's file.
        add_special(t, "etc/issue-link", tarfile.LNKTYPE, "/etc/issue")

    SHOW = ("cat /out/planted /etc/planted /etc/victim /etc/issue-link; "
            "ls -ld /out | cut -c1; ls \"$(readlink /out)\"")

    def check_links(self, job: harness.Job) -> None:
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "inside the image\nalso inside\nthe image's own\n"
                                     "the test image\nl\nplanted\n")
        self.assert_host_untouched()
        self.assertFalse(os.path.exists("/etc/planted"))

    def test_links_lead_inside_the_image(self):
        image = self.archive("links", self.hostile_links)
        self.check_links(self.run_image(image, self.SHOW))

    def test_links_lead_inside_the_image_as_a_normal_user(self):
        u = harness.copy_for_user("stdmpi-images")
        image = self.archive("links", self.hostile_links)
        cache = os.path.join(u.home, "image-cache")
        shutil.rmtree(cache, ignore_errors=True)
        self.check_links(self.run_image(image, self.SHOW, user=u, cache=cache))

    def devices_and_modes(self, t: tarfile.TarFile) -> None:
        add_special(t, "dev", tarfile.DIRTYPE)
        add_special(t, "dev/mem", tarfile.CHRTYPE, mode=0o666, dev=(1, 1))
        add_special(t, "dev/sda", tarfile.BLKTYPE, mode=0o666, dev=(8, 0))
        add_special(t, "hostnull", tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
        add_file(t, "bin/suid", b"#!/bin/sh\necho suid\n", mode=0o4755)
        add_special(t, "sgid", tarfile.DIRTYPE, mode=0o2775)
        add_special(t, "sticky", tarfile.DIRTYPE, mode=0o1777)
        add_special(t, "fifo", tarfile.FIFOTYPE, mode=0o600)

    def test_devices_are_skipped_and_dev_is_minimal(self):
        image = self.archive("devices", self.devices_and_modes)
        job = self.run_image(image, "ls /dev | tr '\\n' ' '; echo; "
                                    "test -e /hostnull && echo hostnull || echo no-hostnull; "
                                    "stat -c '%n %a %F' /bin/suid /sgid /sticky /fifo")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout.splitlines(), [
            " ".join(MINIMAL_DEV) + " ", "no-hostnull", "/bin/suid 755 regular file",
            "/sgid 775 directory", "/sticky 1777 directory", "/fifo 600 fifo"])
        # The unpacked tree on the host: no device, no setuid bit.
        [tree] = [os.path.join(self.cache, d) for d in os.listdir(self.cache)
                  if not d.endswith(".lock")]
        self.assertFalse(os.path.lexists(os.path.join(tree, "hostnull")))
        self.assertEqual(os.listdir(os.path.join(tree, "dev")), [])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(tree, "bin", "suid")).st_mode), 0o755)

    def test_a_directory_image_cannot_use_its_device_nodes(self):
        # A directory image is the user's own tree: a device node in it is
        # there, but the image is mounted without devices.
        os.mknod(os.path.join(self.root, "hostnull"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        job = self.run_image(self.root, "ls /dev | tr '\\n' ' '; echo; "
                                        "echo x > /hostnull && echo wrote || echo refused")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout.splitlines(), [" ".join(MINIMAL_DEV) + " ", "refused"])


class Cache(ImageCase):
    def setUp(self):
        super().setUp()
        self.tarball = self.archive("plain", lambda t: None)

    def test_a_new_cache_is_private_and_an_open_one_is_made_so(self):
        job = self.run_image(self.tarball, "cat /etc/issue")
        self.assertEqual((job.rc, job.stdout), (0, "the test image\n"), job.describe())
        self.assertEqual(stat.S_IMODE(os.stat(self.cache).st_mode), 0o700)
        mine = os.path.join(self.dir, "readable")
        os.mkdir(mine, 0o755)
        job = self.run_image(self.tarball, "cat /etc/issue", cache=mine)
        self.assertEqual((job.rc, job.stdout), (0, "the test image\n"), job.describe())
        self.assertEqual(stat.S_IMODE(os.stat(mine).st_mode), 0o700)

    def test_a_shared_or_linked_cache_is_refused(self):
        shared = os.path.join(self.dir, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        job = self.run_image(self.tarball, "echo ran", cache=shared)
        self.assertEqual(job.rc, 126, job.describe())
        self.assertEqual(job.stderr, f"stdmpi: rank 0 (sh -c \"echo ran\"): cannot start the "
                                     f"command: image {self.tarball}: the image cache {shared} is "
                                     "writable by others (mode 0777) (set STDMPI_IMAGE_CACHE to a "
                                     "directory of your own)\n")
        private = os.path.join(self.dir, "private")
        os.mkdir(private, 0o700)
        link = os.path.join(self.dir, "link")
        os.symlink(private, link)
        job = self.run_image(self.tarball, "echo ran", cache=link)
        self.assertEqual(job.rc, 126, job.describe())
        self.assertIn(f"image {self.tarball}: cannot open the image cache {link}: ", job.stderr)
        self.assertIn("(it must be a directory, not a link)", job.stderr)
        self.assertEqual(os.listdir(private), [])


class Archives(ImageCase):
    """Archives made by GNU tar in its formats, compressed every way."""

    def test_formats_and_compressions(self):
        deep = os.path.join(self.root, *["d" * 60] * 5)  # a path over 100 bytes
        os.makedirs(deep)
        with open(os.path.join(deep, "f" * 120), "w") as f:
            f.write("long\n")
        os.link(os.path.join(self.root, "etc", "issue"), os.path.join(self.root, "etc", "hard"))
        script = ("cat /etc/issue /etc/hard " + "/".join([""] + ["d" * 60] * 5 + ["f" * 120]) +
                  "; stat -c %Y /etc/issue")
        mtime = int(os.stat(os.path.join(self.root, "etc", "issue")).st_mtime)
        tools = [("gz", "gzip"), ("bz2", "bzip2"), ("xz", "xz"), ("zst", "zstd"), ("", None)]
        for fmt in ["gnu", "posix", "ustar", "oldgnu"]:
            for ext, tool in tools:
                if tool and shutil.which(tool) is None:
                    require(False, tool)
                with self.subTest(format=fmt, compression=tool):
                    path = os.path.join(self.dir, f"img-{fmt}.tar" + (f".{ext}" if ext else ""))
                    argv = ["tar", f"--format={fmt}", "-C", self.root, "-cf", path, "."]
                    if tool:
                        argv[1:1] = [f"--use-compress-program={tool}"]
                    made = subprocess.run(argv, capture_output=True, text=True, timeout=120)
                    if fmt == "ustar" and made.returncode != 0:
                        # ustar cannot hold a name of 120 bytes: tar says so.
                        self.assertIn("file name is too long", made.stderr)
                        continue
                    self.assertEqual(made.returncode, 0, made.stderr)
                    job = self.run_image(path, script)
                    self.assertEqual(job.rc, 0, job.describe())
                    self.assertEqual(job.stdout, f"the test image\nthe test image\nlong\n{mtime}\n")

    def test_damaged_archives_say_so(self):
        good = self.archive("good", lambda t: None)
        with open(good, "rb") as f:
            data = f.read()
        cut = os.path.join(self.dir, "cut.tar.gz")
        with open(cut, "wb") as f:
            f.write(data[: len(data) // 2])
        job = self.run_image(cut, "echo ran")
        self.assertEqual(job.rc, 126, job.describe())
        self.assertIn(f"image {cut}: gzip -dc exited with status 1: the compressed archive is "
                      "damaged", job.stderr)
        text = os.path.join(self.dir, "notes.txt")
        with open(text, "w") as f:
            f.write("not an archive\n" * 100)
        job = self.run_image(text, "echo ran")
        self.assertEqual(job.rc, 126, job.describe())
        self.assertIn(f"image {text}: a header's checksum does not match: the file is damaged or "
                      "not a tar archive", job.stderr)


if __name__ == "__main__":
    unittest.main()
