"""The :msgpack form of the numeric verbs in real jobs: spoken raw by a client
that builds every byte itself, and used by the Python bridge for large arrays."""
import json
import os
import re
import tempfile
import unittest

from harness import PYTHON, SOURCE, stdmpirun

CLIENT = os.path.join(SOURCE, "tests", "clients", "msgpack_client.py")
HERE = os.path.dirname(os.path.abspath(__file__))


class RawProtocol(unittest.TestCase):
    def test_every_numeric_verb_in_both_forms(self):
        job = stdmpirun("-n", "3", "--oversubscribe", PYTHON, CLIENT, "checks", timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(re.findall(r"rank (\d) msgpack ok", job.stdout)), ["0", "1", "2"])

    def test_bad_payloads_get_their_reason_and_the_stream_stays_in_step(self):
        job = stdmpirun("-n", "2", PYTHON, CLIENT, "badreturn", timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(re.findall(r"rank (\d) msgpack ok", job.stdout)), ["0", "1"])

    def test_a_bad_payload_ends_the_job_naming_the_rank(self):
        job = stdmpirun("-n", "2", PYTHON, CLIENT, "badfatal", timeout=120)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("stdmpi: rank 1 (", job.stderr)
        self.assertIn("request failed: element 0 of the msgpack array is a nil, not a number\n"
                      "stdmpi:   the request: \"@mpi allreduce:msgpack sum 2\"", job.stderr)
        self.assertNotIn("the job went on", job.stderr)


class PythonBridge(unittest.TestCase):
    def run_check(self, env_min, trace):
        # Without the shared region, whose :shm form large arrays would take.
        env = dict(os.environ, STDMPI_MSGPACK_MIN_NUMBERS=str(env_min), STDMPI_SHM="0")
        job = stdmpirun("-n", "2", "--trace", trace, PYTHON, os.path.join(HERE, "bridge_check.py"),
                        timeout=180, env=env)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(len(re.findall(r"rank \d bridge ok", job.stdout)), 2, job.stdout)
        with open(trace) as f:
            return {e["name"] for e in json.load(f) if e.get("ph") == "X"}

    def test_the_whole_bridge_check_passes_with_msgpack_everywhere_and_nowhere(self):
        # bridge_check.py asserts exact values; run it with every numeric
        # request framed in msgpack, and with none, and see from the trace
        # which form was used.
        with tempfile.TemporaryDirectory() as d:
            every = self.run_check(1, os.path.join(d, "every.json"))
            self.assertIn("allreduce:msgpack", every)
            self.assertIn("allreduce:i64:msgpack", every)
            self.assertIn("scatter:msgpack", every)
            self.assertIn("allgather:msgpack", every)
            self.assertNotIn("allreduce", every)
            none = self.run_check(10 ** 9, os.path.join(d, "none.json"))
            self.assertIn("allreduce", none)
            # Only the buffer forms (Allreduce, Reduce) use msgpack whatever the size.
            self.assertEqual({n for n in none if n.endswith(":msgpack")},
                             {"allreduce:msgpack", "allreduce:i64:msgpack", "reduce:msgpack"})


if __name__ == "__main__":
    unittest.main()
