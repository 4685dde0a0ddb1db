"""``apitest tls init | ca | client``: the dev CA on the command line (docs/tls.md)."""

from __future__ import annotations

import argparse
import os
import sys

from apitest.config import ConfigError, load_settings
from apitest.config.option import add_config_option
from apitest.tls.lab import LISTENERS, unavailable_reason
from apitest.tls.material import LabDir


def _lab_dir(args: argparse.Namespace) -> LabDir:
    """``--dir`` and ``--host`` win; otherwise tls_lab.dir and tls_lab.hosts of the config (when it loads)."""
    directory, hosts = args.dir, args.host
    if directory is None or not hosts:
        try:
            settings = load_settings(args.config, dict(os.environ))
        except ConfigError:
            if directory is None and os.path.exists(args.config):
                raise
            settings = None
        if settings is not None:
            directory = directory or settings.tls_lab.dir
            hosts = hosts or settings.tls_lab.hosts
    return LabDir(directory or "data/tls", hosts or ["localhost"])


def cmd_init(args: argparse.Namespace) -> int:
    lab = _lab_dir(args)
    existed = lab.ca_files.cert.is_file()
    lab.ca()
    server = lab.server(force=args.force)
    print(f"dev CA      {lab.ca_files.cert}{' (kept)' if existed else ' (created)'}")
    print(f"server      {server.cert}  key {server.key}  hosts {', '.join(lab.hosts)}")
    for listener in LISTENERS:
        reason = unavailable_reason(listener)
        if reason:
            print(f"lab {listener.name:<16} {reason}")
            continue
        files = lab.lab(listener.name, force=args.force)
        print(f"lab {listener.name:<16} {files.cert}")
    print(f"trust it:   apitest tls ca > ca.pem   (or point the gateway at {lab.ca_files.cert})")
    return 0


def cmd_ca(args: argparse.Namespace) -> int:
    sys.stdout.write(_lab_dir(args).ca_pem().decode("ascii"))
    return 0


def cmd_client(args: argparse.Namespace) -> int:
    lab = _lab_dir(args)
    try:
        files = lab.client(args.name)
    except ValueError as exc:
        print(f"apitest: {exc}", file=sys.stderr)
        return 1
    print(f"client certificate {files.cert}")
    print(f"private key        {files.key}  (mode 600)")
    print(f"issuer             {lab.ca_files.cert}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tls = sub.add_parser("tls", help="The dev CA: init, print the CA, issue client certificates (docs/tls.md).")
    tls_sub = tls.add_subparsers(dest="tls_command", required=True, metavar="TLS_COMMAND")

    def add(name: str, func: object, help: str) -> argparse.ArgumentParser:
        p = tls_sub.add_parser(name, help=help, description=help)
        add_config_option(p, "YAML profile whose tls_lab.dir and tls_lab.hosts are used")
        p.add_argument("--dir", help="the dev CA directory (default: tls_lab.dir, data/tls)")
        p.add_argument("--host", action="append", help="a host name for the certificates (repeatable)")
        p.set_defaults(func=func)
        return p

    init = add(
        "init", cmd_init, "Create the dev CA, its server certificate and the lab certificates (kept if present)."
    )
    init.add_argument(
        "--force",
        action="store_true",
        help="reissue the server and lab certificates (e.g. for new host names); the CA is kept",
    )
    add("ca", cmd_ca, "Print the dev CA certificate (PEM), for a gateway to trust.")
    client = add("client", cmd_client, "Issue a client certificate signed by the dev CA, for mutual TLS.")
    client.add_argument("--name", required=True, help="the certificate's CN and DNS SAN, e.g. gw")
