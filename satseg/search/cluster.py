"""Connecting to dask: a local cluster by default, or a running scheduler by address.

Local: ``LocalCluster(n_workers=N, threads_per_worker=1, processes=True)``, so each worker runs
one trial at a time. Remote: ``tcp://host:8786`` or ``tls://host:8786`` (``--scheduler``, or the
``DASK_SCHEDULER_ADDRESS`` variable); TLS uses ``distributed.security.Security`` from explicit
files or dask's ``distributed.comm.tls`` configuration (``DASK_DISTRIBUTED__COMM__TLS__...``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from satseg.errors import ConfigError

log = logging.getLogger("satseg.search.cluster")


def scheduler_address(address: str | None) -> str | None:
    """The scheduler to use: the argument, else DASK_SCHEDULER_ADDRESS, else None (local)."""
    address = address or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if address and "://" not in address:
        address = f"tcp://{address}"
    if address and not address.startswith(("tcp://", "tls://", "inproc://", "ucx://", "ws://",
                                           "wss://")):
        raise ConfigError(f"scheduler address {address!r}: use tcp://HOST:PORT or "
                          "tls://HOST:PORT")
    return address


def security(address: str | None, tls: dict[str, str] | None = None):
    """``Security`` for a ``tls://`` address (explicit files or dask's config), else None."""
    if not address or not address.startswith("tls://"):
        if tls:
            raise ConfigError("TLS files were given but the scheduler address is not tls://")
        return None
    from distributed.security import Security

    if tls:
        missing = [k for k in ("ca", "cert", "key") if not tls.get(k)]
        if missing:
            raise ConfigError(f"TLS needs ca, cert and key files; missing {missing}")
        for k in ("ca", "cert", "key"):
            if not os.path.isfile(tls[k]):
                raise ConfigError(f"TLS {k} file {tls[k]} does not exist")
        return Security(tls_ca_file=tls["ca"], tls_client_cert=tls["cert"],
                        tls_client_key=tls["key"], require_encryption=True)
    sec = Security()  # reads distributed.comm.tls.* from dask config / environment
    if not getattr(sec, "tls_ca_file", None):  # set from config (not in distributed's stubs)
        raise ConfigError(
            f"scheduler {address} needs TLS certificates: give --tls-ca/--tls-cert/--tls-key or "
            "set distributed.comm.tls.ca-file and .client.cert/.client.key in dask's config "
            "(e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE)")
    return sec


def connect(address: str | None = None, n_workers: int = 1, *, tls: dict[str, str] | None = None,
            timeout: float = 30.0) -> tuple[Any, Any]:
    """``(client, cluster)``: cluster is the LocalCluster this call started (close it), or None."""
    from distributed import Client, LocalCluster

    address = scheduler_address(address)
    if address:
        try:
            client = Client(address, security=security(address, tls), timeout=timeout)
        except OSError as exc:
            raise ConfigError(f"cannot reach the dask scheduler at {address}: {exc}; start one "
                              "with `dask scheduler` or leave --scheduler out for a local "
                              "cluster") from exc
        log.info("connected to %s (%d workers)", address,
                 len(client.scheduler_info().get("workers", {})))
        return client, None
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.WARNING)
    client = Client(cluster)
    log.info("started a local dask cluster of %d worker process(es)", n_workers)
    return client, cluster


def close(client: Any, cluster: Any) -> None:
    """Close a client and, when this process started it, its local cluster."""
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()
