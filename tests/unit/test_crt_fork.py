"""A fork waits for the connector's native threads that are still running (trainer/crt_fork.py).

The hang itself is a race (twice in 198 rounds of "read in the main process, then fork
DataLoader workers" on a loaded 2-core machine), so these tests pin what the handler decides,
each in a process of its own, with no network: a native client's threads start when it is made.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PRELUDE = textwrap.dedent(
    """
    import os, sys
    import trainer.crt_fork as crt_fork
    from s3torchconnectorclient._mountpoint_s3_client import MountpointS3Client

    crt_fork.JOIN_SECONDS = 0.2

    def fork():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("forked", os.waitstatus_to_exitcode(status), flush=True)
    """
)


def run(body: str) -> subprocess.CompletedProcess:
    script = PRELUDE + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_a_fork_waits_for_native_threads_no_live_client_of_the_connector_accounts_for():
    # A native client the connector does not track stands for the threads of one it dropped
    # just before the fork: they are running, and the connector's handler waits for nothing.
    result = run(
        """
        native = MountpointS3Client("us-east-1", "lab-test", endpoint="http://127.0.0.1:9")
        assert crt_fork.crt_threads_alive()
        fork()
        """
    )
    assert result.stdout.strip() == "forked 0", result
    assert "the S3 client's threads did not end within 0.2 s before a fork" in result.stderr, result


def test_a_fork_after_the_threads_ended_goes_straight_on():
    result = run(
        """
        native = MountpointS3Client("us-east-1", "lab-test", endpoint="http://127.0.0.1:9")
        del native
        crt_fork._before_fork()  # waits for the dropped client's threads to end
        assert not crt_fork.crt_threads_alive()
        fork()
        """
    )
    assert result.stdout.strip() == "forked 0" and result.stderr == "", result


def test_a_live_client_of_the_connector_is_left_to_the_connectors_own_handler():
    # The connector's handler drops its live clients before it waits; this one must not wait
    # on their threads first (they would never end).
    result = run(
        """
        from s3torchconnector._s3client import S3Client

        client = S3Client("us-east-1", endpoint="http://127.0.0.1:9")
        client._client  # made on first use
        crt_fork._before_fork()
        print("went on", flush=True)
        """
    )
    assert result.stdout.strip() == "went on" and result.stderr == "", result


def test_a_process_whose_native_client_never_started_forks_without_waiting():
    # Joining the native threads before the CRT has started crashes the process (seen here).
    result = run("fork()")
    assert result.stdout.strip() == "forked 0" and result.returncode == 0, result
