"""Envoy's request-matching rules, restated in Python for `explain`.

Each function mirrors one decision Envoy's router makes, with the same precedence, so that
what `explain` reports is what a real Envoy does with the same configuration (the explain
tests check it by sending the same request through a real Envoy). Sources, all Envoy 1.40:
- virtual host selection: `RouteMatcher::findVirtualHost` (source/common/router/config_impl.cc):
  exact domain, then the longest `*suffix` wildcard, then the longest `prefix*` wildcard,
  then `*`; the Host value is compared whole (port included) and case-insensitively;
- header matching: `HeaderUtility::matchHeaders` (source/common/http/header_utility.cc),
  including how a missing header behaves under `invert_match` and `present_match`;
- path normalisation before matching: the HTTP connection manager's `normalize_path`
  (RFC 3986 dot-segment removal) and `merge_slashes`;
- string matchers: `envoy.type.matcher.v3.StringMatcher` (regexes are RE2 and must match
  the whole value; Python's `re.fullmatch` agrees for the patterns App Mesh accepts).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import string_pb2


@dataclass(frozen=True)
class Request:
    """An HTTP request as Envoy's router sees it: pseudo-headers plus lower-cased headers."""

    method: str
    scheme: str
    authority: str  # the Host / :authority value, port included when the client sent one
    path: str  # without the query string
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]  # lower-case names, without pseudo-headers
    connection_port: int | None = None  # where the TCP connection goes, when not the URL's port

    @property
    def port(self) -> int:
        """The destination port of the connection (filter chains match on it, not on Host)."""
        if self.connection_port is not None:
            return self.connection_port
        host, _, port = self.authority.rpartition(":")
        if host and port.isdigit() and not self.authority.endswith("]"):
            return int(port)
        return 443 if self.scheme == "https" else 80

    def header(self, name: str) -> str | None:
        """A header's value, pseudo-headers included (`:path` carries the query, as in Envoy)."""
        name = name.lower()
        if name == ":method":
            return self.method
        if name in (":authority", "host"):
            return self.authority
        if name == ":scheme":
            return self.scheme
        if name == ":path":
            query = "&".join(f"{key}={value}" for key, value in self.query)
            return self.path + (f"?{query}" if query else "")
        return self.headers.get(name)

    def with_changes(self, **changes: object) -> Request:
        values: dict[str, object] = {
            "method": self.method,
            "scheme": self.scheme,
            "authority": self.authority,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers),
            "connection_port": self.connection_port,
        }
        values.update(changes)
        return Request(**values)  # type: ignore[arg-type]


def parse_request(url: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> Request:
    """The request a client sends for `url` (Host from the URL unless a Host header is given)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    authority = lowered.pop("host", None) or parts.netloc.rpartition("@")[2]
    scheme = parts.scheme or "http"
    return Request(
        method=method.upper(),
        scheme=scheme,
        authority=authority,
        path=parts.path or "/",
        query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
        headers=lowered,
        # The connection goes to the URL's port whatever Host says (filter chains match on it).
        connection_port=parts.port or (443 if scheme == "https" else 80),
    )


def normalize_path(path: str, merge_slashes: bool, normalize: bool) -> str:
    """The path after the connection manager's `merge_slashes` and `normalize_path`."""
    if merge_slashes:
        path = re.sub(r"/{2,}", "/", path)
    if normalize:
        trailing = path.endswith("/") and path != "/"
        path = posixpath.normpath(unquote(path) if "%2e" in path.lower() else path)
        path = "/" + path.lstrip("/") if path != "." else "/"
        if trailing and not path.endswith("/"):
            path += "/"
    return path


def select_virtual_host(virtual_hosts: list[rc.VirtualHost], authority: str) -> tuple[rc.VirtualHost | None, str]:
    """The virtual host Envoy picks for `authority`, and which rule picked it."""
    host = authority.lower()
    for vhost in virtual_hosts:
        if any(domain.lower() == host for domain in vhost.domains if "*" not in domain):
            return vhost, f"exact domain {host!r}"
    suffixes = [
        (domain[1:].lower(), vhost)
        for vhost in virtual_hosts
        for domain in vhost.domains
        if domain.startswith("*") and len(domain) > 1
    ]
    for suffix, vhost in sorted(suffixes, key=lambda item: -len(item[0])):
        if host.endswith(suffix) and len(host) > len(suffix):
            return vhost, f"wildcard domain '*{suffix}'"
    prefixes = [
        (domain[:-1].lower(), vhost)
        for vhost in virtual_hosts
        for domain in vhost.domains
        if domain.endswith("*") and len(domain) > 1
    ]
    for prefix, vhost in sorted(prefixes, key=lambda item: -len(item[0])):
        if host.startswith(prefix) and len(host) > len(prefix):
            return vhost, f"wildcard domain '{prefix}*'"
    for vhost in virtual_hosts:
        if "*" in vhost.domains:
            return vhost, "catch-all domain '*'"
    return None, f"no virtual host has a domain matching {host!r}"


def string_matches(matcher: string_pb2.StringMatcher, value: str) -> bool:
    """`StringMatcher` semantics: one of exact/prefix/suffix/contains/safe_regex, optional ignore_case."""
    kind = matcher.WhichOneof("match_pattern")
    fold = matcher.ignore_case and kind != "safe_regex"
    candidate = value.lower() if fold else value
    if kind == "exact":
        return candidate == (matcher.exact.lower() if fold else matcher.exact)
    if kind == "prefix":
        return candidate.startswith(matcher.prefix.lower() if fold else matcher.prefix)
    if kind == "suffix":
        return candidate.endswith(matcher.suffix.lower() if fold else matcher.suffix)
    if kind == "contains":
        return (matcher.contains.lower() if fold else matcher.contains) in candidate
    if kind == "safe_regex":
        return re.fullmatch(matcher.safe_regex.regex, value) is not None
    return False


def _describe_string_matcher(matcher: string_pb2.StringMatcher) -> str:
    kind = matcher.WhichOneof("match_pattern")
    value = matcher.safe_regex.regex if kind == "safe_regex" else getattr(matcher, str(kind), "")
    return f"{kind} {value!r}" + (" (ignoring case)" if matcher.ignore_case else "")


def header_matches(matcher: rc.HeaderMatcher, request: Request) -> tuple[bool, str]:
    """(matched, why) for one `HeaderMatcher`, with Envoy's rules for a missing header."""
    value = request.header(matcher.name)
    kind = matcher.WhichOneof("header_match_specifier")
    if value is None and not matcher.treat_missing_header_as_empty:
        present_rule = kind == "present_match"
        matched = present_rule and (matcher.present_match if matcher.invert_match else not matcher.present_match)
        return matched, f"header {matcher.name!r} is absent"
    value = value or ""
    if kind == "string_match":
        raw = string_matches(matcher.string_match, value)
        rule = _describe_string_matcher(matcher.string_match)
    elif kind == "present_match":
        raw, rule = matcher.present_match, "present"
    elif kind == "range_match":
        number = int(value) if re.fullmatch(r"-?\d+", value) else None
        start, end = matcher.range_match.start, matcher.range_match.end
        raw = number is not None and start <= number < end
        rule = f"in [{start}, {end})"
    elif kind == "exact_match":  # deprecated forms, still accepted by Envoy
        raw, rule = value == matcher.exact_match, f"exact {matcher.exact_match!r}"
    elif kind == "prefix_match":
        raw, rule = value.startswith(matcher.prefix_match), f"prefix {matcher.prefix_match!r}"
    elif kind == "suffix_match":
        raw, rule = value.endswith(matcher.suffix_match), f"suffix {matcher.suffix_match!r}"
    elif kind == "contains_match":
        raw, rule = matcher.contains_match in value, f"contains {matcher.contains_match!r}"
    elif kind == "safe_regex_match":
        raw = re.fullmatch(matcher.safe_regex_match.regex, value) is not None
        rule = f"safe_regex {matcher.safe_regex_match.regex!r}"
    else:
        raw, rule = True, "present"
    matched = raw != matcher.invert_match
    verb = "matches" if raw else "does not match"
    invert = " (inverted)" if matcher.invert_match else ""
    return matched, f"header {matcher.name!r}={value!r} {verb} {rule}{invert}"


def query_matches(matcher: rc.QueryParameterMatcher, request: Request) -> tuple[bool, str]:
    values = [value for key, value in request.query if key == matcher.name]
    kind = matcher.WhichOneof("query_parameter_match_specifier")
    if not values:
        return False, f"query parameter {matcher.name!r} is absent"
    if kind == "string_match":
        matched = string_matches(matcher.string_match, values[0])
        rule = _describe_string_matcher(matcher.string_match)
        verb = "matches" if matched else "does not match"
        return matched, f"query parameter {matcher.name!r}={values[0]!r} {verb} {rule}"
    return True, f"query parameter {matcher.name!r} is present"


def path_matches(match: rc.RouteMatch, path: str) -> tuple[bool, str]:
    """The route's path specifier against the normalised path (query excluded)."""
    kind = match.WhichOneof("path_specifier")
    sensitive = not match.HasField("case_sensitive") or match.case_sensitive.value
    candidate = path if sensitive else path.lower()
    if kind == "prefix":
        wanted = match.prefix if sensitive else match.prefix.lower()
        return candidate.startswith(
            wanted
        ), f"path {path!r} {'starts' if candidate.startswith(wanted) else 'does not start'} with {match.prefix!r}"
    if kind == "path":
        wanted = match.path if sensitive else match.path.lower()
        return candidate == wanted, f"path {path!r} {'is' if candidate == wanted else 'is not'} {match.path!r}"
    if kind == "safe_regex":
        matched = re.fullmatch(match.safe_regex.regex, path) is not None
        return matched, f"path {path!r} {'matches' if matched else 'does not match'} regex {match.safe_regex.regex!r}"
    if kind == "path_separated_prefix":
        wanted = match.path_separated_prefix
        matched = candidate == wanted or candidate.startswith(wanted + "/")
        return matched, f"path {path!r} {'is under' if matched else 'is not under'} {wanted!r}"
    return False, f"unsupported path specifier {kind!r}"


def route_matches(route: rc.Route, request: Request) -> tuple[bool, list[str]]:
    """(matched, reasons): every condition of the route's match, in Envoy's order, first failure last."""
    match = route.match
    reasons: list[str] = []
    if match.HasField("grpc"):
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/grpc"):
            return False, [f"not a gRPC request (content-type {content_type!r})"]
        reasons.append("is a gRPC request")
    for matcher in match.headers:
        matched, why = header_matches(matcher, request)
        reasons.append(why)
        if not matched:
            return False, reasons
    for query in match.query_parameters:
        matched, why = query_matches(query, request)
        reasons.append(why)
        if not matched:
            return False, reasons
    matched, why = path_matches(match, request.path)
    reasons.append(why)
    return matched, reasons
