"""Forks (DataLoader workers) wait for the connector's native threads that are still ending.

The connector's native client (the AWS CRT) keeps a process-wide mutex that each of its threads
takes as it ends. A fork while one holds it hands the child a mutex nobody will release, and the
child's first S3 client waits on it forever: a DataLoader worker stuck in ``S3Client._client_builder``
(``aws_mutex_lock``), its parent waiting for data. Reproduced here twice in 198 rounds of "read
with ``num_workers=0``, then iterate a loader with workers" on a loaded 2-core machine (none in 300
with this handler), and seen in the test suite's distributed ranks.

The connector's own before-fork handler drops its clients and waits 0.5 s for their threads, but
only when a client is alive at the fork. When the last one was dropped just before (the loader that
read in the main process went out of scope), its threads may still be ending and nothing waits.
This handler waits for them whenever any are alive and no client is (a live client's threads never
end; the connector's handler, run first when the connector was imported after this module, drops
them). Threads are recognised by the names the CRT gives them; with none alive, the CRT may never
have started in this process, and its join must not be called then (it crashes).
"""

from __future__ import annotations

import os
import sys

JOIN_SECONDS = 5.0
# Thread names the CRT gives its event loops and DNS resolver (aws-c-io), as /proc shows them.
CRT_THREADS = ("AwsEventLoop", "AwsHostResolver")


def crt_threads_alive() -> bool:
    """Whether a thread of this process carries a name the CRT gives its threads."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return False
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                if comm.read().startswith(CRT_THREADS):
                    return True
        except OSError:
            continue  # the thread ended meanwhile
    return False


def _before_fork() -> None:
    native = sys.modules.get("s3torchconnectorclient._mountpoint_s3_client")
    if native is None or not crt_threads_alive():
        return
    clients = sys.modules.get("s3torchconnector._s3client._s3client")
    if clients is not None and clients._get_active_s3clients():
        return
    try:
        native.join_all_managed_threads(JOIN_SECONDS)
    except Exception as e:  # noqa: BLE001 - a fork handler must not raise; the fork goes on as before
        print(
            f"warning: the S3 client's threads did not end within {JOIN_SECONDS:g} s before a fork ({e}); "
            "a DataLoader worker may hang",
            file=sys.stderr,
            flush=True,
        )


os.register_at_fork(before=_before_fork)
