"""Virtual hosts of one route configuration must not share a domain: Envoy refuses the whole
route configuration ("Only unique values for domains are permitted") and compares domains
without case. App Mesh's virtual service names are free-form and case-sensitive, so `Svc.local`
and `svc.local`, or `a:80` and `a` on port 80, are two services that claim one Host.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from appmesh_local.ir import VirtualHost


def unique_domains(vhosts: Iterable[VirtualHost], where: str, problems: list[str]) -> list[VirtualHost]:
    """The virtual hosts in order, each without the domains an earlier one already claims (a
    virtual host left with none is dropped); every domain taken away is recorded as a problem."""
    claimed: dict[str, str] = {}
    out: list[VirtualHost] = []
    for vhost in vhosts:
        kept = tuple(d for d in vhost.domains if d.lower() not in claimed)
        for domain in vhost.domains:
            owner = claimed.get(domain.lower())
            if owner is not None:
                problems.append(
                    f"{where}: Host {domain} of {vhost.name} is also {owner}'s (Envoy compares Hosts without "
                    f"case); it goes to {owner}"
                )
        for domain in kept:
            claimed[domain.lower()] = vhost.name
        if len(kept) == len(vhost.domains):
            out.append(vhost)
        elif kept:
            out.append(replace(vhost, domains=kept))
    return out
