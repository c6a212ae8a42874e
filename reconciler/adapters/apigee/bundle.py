"""Generate and read Apigee proxy bundles (pure: bytes in, bytes out).

A generated bundle is a real ZIP, byte-for-byte deterministic for a given spec (fixed timestamps,
sorted entries), so its sha256 is a content hash that decides whether a new revision is needed:

    apiproxy/<name>.xml                      descriptor: DisplayName, Description, endpoints, policies
    apiproxy/proxies/default.xml             ProxyEndpoint: BasePath, PreFlow steps, RouteRule -> default
    apiproxy/targets/default.xml             TargetEndpoint: HTTPTargetConnection/URL = backend
    apiproxy/policies/verify-api-key.xml     VerifyAPIKey (x-api-key header): consumers' keys admit calls
    apiproxy/policies/enforce-quota.xml      Quota taking its limits from the API product (rate_limit)
    apiproxy/policies/method-not-allowed.xml RaiseFault 405 for verbs outside `methods`
    apiproxy/policies/cors-<policy>.xml      Apigee's CORS policy, one per cors Policy, first in PreFlow
    apiproxy/resources/properties/stoa.properties  tenant, version, openapiHash (no native home)

`read_bundle` parses what the gateway returns (`revisions.get?format=bundle`) back into the spec
fields, so a read-back reflects the deployed revision itself, not a side record.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

_EPOCH = (1980, 1, 1, 0, 0, 0)
KEY_REF = "request.header.x-api-key"
"""Where a generated bundle's VerifyAPIKey reads the consumer's key."""
_VERB = re.compile(r'request\.verb = "([A-Z]+)"')


def _props_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _props_unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append("\n" if value[i + 1] == "n" else value[i + 1])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def cors_xml(policy: str, config: dict[str, Any]) -> str:
    """Apigee's CORS policy for a canonical cors config (lists kept in their declared order)."""
    def joined(key: str) -> str:
        return escape(", ".join(str(v) for v in config.get(key) or []))
    return (
        f'<CORS name="cors-{policy}"><AllowOrigins>{joined("origins")}</AllowOrigins>'
        f'<AllowMethods>{joined("methods")}</AllowMethods><AllowHeaders>{joined("headers")}</AllowHeaders>'
        f'<ExposeHeaders>{joined("exposeHeaders")}</ExposeHeaders><MaxAge>{int(config.get("maxAge", 3600))}</MaxAge>'
        f'<AllowCredentials>{"true" if config.get("credentials") else "false"}</AllowCredentials>'
        "<GeneratePreflightResponse>true</GeneratePreflightResponse>"
        "<IgnoreUnresolvedVariables>true</IgnoreUnresolvedVariables></CORS>\n"
    )


def _split(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def cors_from_xml(element: ElementTree.Element) -> dict[str, Any]:
    return {"origins": _split(element.findtext("AllowOrigins")), "methods": _split(element.findtext("AllowMethods")),
            "headers": _split(element.findtext("AllowHeaders")), "exposeHeaders": _split(element.findtext("ExposeHeaders")),
            "credentials": (element.findtext("AllowCredentials") or "").strip() == "true",
            "maxAge": int((element.findtext("MaxAge") or "0").strip() or 0)}


def bundle_files(name: str, spec: dict[str, Any], *, verify_api_key: bool = True,
                 cors: dict[str, dict[str, Any]] | None = None, owner: str | None = None) -> dict[str, str]:
    """The bundle's files (path -> text) for a canonical API spec and its cors policies."""
    methods = sorted({str(m).upper() for m in spec.get("methods") or []})
    condition = "NOT (" + " OR ".join(f'request.verb = "{m}"' for m in methods) + ")"
    cors = dict(sorted((cors or {}).items()))
    policies = ["method-not-allowed"] + (["verify-api-key", "enforce-quota"] if verify_api_key else [])
    policies += [f"cors-{p}" for p in cors]
    steps = [f"<Step><Name>cors-{p}</Name></Step>" for p in cors]
    steps.append(f"<Step><Name>method-not-allowed</Name><Condition>{escape(condition)}</Condition></Step>")
    if verify_api_key:
        steps += ["<Step><Name>verify-api-key</Name></Step>", "<Step><Name>enforce-quota</Name></Step>"]
    descriptor = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<APIProxy name={quoteattr(name)}>\n'
        f"  <DisplayName>{escape(str(spec.get('displayName') or ''))}</DisplayName>\n"
        f"  <Description>{escape(str(spec.get('description') or ''))}</Description>\n"
        f"  <BasePaths>{escape(str(spec['basePath']))}</BasePaths>\n"
        "  <Policies>" + "".join(f"<Policy>{p}</Policy>" for p in sorted(policies)) + "</Policies>\n"
        "  <ProxyEndpoints><ProxyEndpoint>default</ProxyEndpoint></ProxyEndpoints>\n"
        "  <TargetEndpoints><TargetEndpoint>default</TargetEndpoint></TargetEndpoints>\n"
        "  <Resources><Resource>properties://stoa.properties</Resource></Resources>\n"
        "</APIProxy>\n"
    )
    proxy = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ProxyEndpoint name="default">\n'
        "  <PreFlow name=\"PreFlow\"><Request>" + "".join(steps) + "</Request><Response/></PreFlow>\n"
        f"  <HTTPProxyConnection><BasePath>{escape(str(spec['basePath']))}</BasePath></HTTPProxyConnection>\n"
        '  <RouteRule name="default"><TargetEndpoint>default</TargetEndpoint></RouteRule>\n'
        "</ProxyEndpoint>\n"
    )
    target = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<TargetEndpoint name="default">\n'
        f"  <HTTPTargetConnection><URL>{escape(str(spec['backend']))}</URL></HTTPTargetConnection>\n"
        "</TargetEndpoint>\n"
    )
    files = {
        f"apiproxy/{name}.xml": descriptor,
        "apiproxy/proxies/default.xml": proxy,
        "apiproxy/targets/default.xml": target,
        "apiproxy/policies/method-not-allowed.xml": (
            '<RaiseFault name="method-not-allowed"><FaultResponse><Set><StatusCode>405</StatusCode>'
            "<ReasonPhrase>Method Not Allowed</ReasonPhrase></Set></FaultResponse>"
            "<IgnoreUnresolvedVariables>true</IgnoreUnresolvedVariables></RaiseFault>\n"),
        "apiproxy/resources/properties/stoa.properties": "".join(
            f"{k}={_props_escape(str(spec.get(k) or ''))}\n" for k in ("tenant", "version", "openapiHash"))
            + (f"owner={_props_escape(owner)}\n" if owner else ""),
    }
    for policy, config in cors.items():
        files[f"apiproxy/policies/cors-{policy}.xml"] = cors_xml(policy, config)
    if verify_api_key:
        files["apiproxy/policies/verify-api-key.xml"] = (
            f'<VerifyAPIKey name="verify-api-key"><APIKey ref="{KEY_REF}"/></VerifyAPIKey>\n')
        files["apiproxy/policies/enforce-quota.xml"] = (
            '<Quota name="enforce-quota" type="rollingwindow"><UseQuotaConfigInAPIProduct stepName="verify-api-key">'
            "<DefaultConfig><Allow>1000000000</Allow><Interval>1</Interval><TimeUnit>minute</TimeUnit></DefaultConfig>"
            "</UseQuotaConfigInAPIProduct><Distributed>true</Distributed><Synchronous>true</Synchronous></Quota>\n")
    return files


def build_bundle(name: str, spec: dict[str, Any], *, verify_api_key: bool = True,
                 cors: dict[str, dict[str, Any]] | None = None, owner: str | None = None) -> bytes:
    """A deterministic ZIP of `bundle_files`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in sorted(bundle_files(name, spec, verify_api_key=verify_api_key, cors=cors,
                                              owner=owner).items()):
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)
    return buffer.getvalue()


def bundle_hash(data: bytes) -> str:
    """16 hex digits of the bundle's sha256: short enough for a GCP label value."""
    return hashlib.sha256(data).hexdigest()[:16]


def read_bundle(data: bytes) -> dict[str, Any]:
    """Spec fields of a bundle, plus `cors` (policy name -> config); ValueError when not one of ours."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        descriptor = next(n for n in names if re.fullmatch(r"apiproxy/[^/]+\.xml", n))
        root = ElementTree.fromstring(archive.read(descriptor))
        proxy = ElementTree.fromstring(archive.read("apiproxy/proxies/default.xml"))
        target = ElementTree.fromstring(archive.read("apiproxy/targets/default.xml"))
        props_text = archive.read("apiproxy/resources/properties/stoa.properties").decode()
        cors: dict[str, dict[str, Any]] = {}
        for path in names:
            if re.fullmatch(r"apiproxy/policies/cors-[^/]+\.xml", path):
                element = ElementTree.fromstring(archive.read(path))
                if element.tag == "CORS" and (element.get("name") or "").startswith("cors-"):
                    cors[str(element.get("name"))[5:]] = cors_from_xml(element)
    except (zipfile.BadZipFile, StopIteration, KeyError, ElementTree.ParseError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a reconciler-generated proxy bundle: {exc}") from None
    props = dict(line.split("=", 1) for line in props_text.splitlines() if "=" in line)
    methods: list[str] = []
    for step in proxy.iter("Step"):
        if step.findtext("Name") == "method-not-allowed":
            methods = sorted(set(_VERB.findall(step.findtext("Condition") or "")))
    return {
        "tenant": _props_unescape(props.get("tenant", "")),
        "version": _props_unescape(props.get("version", "")),
        "openapiHash": _props_unescape(props.get("openapiHash", "")) or None,
        "displayName": root.findtext("DisplayName") or None,
        "description": root.findtext("Description") or None,
        "basePath": proxy.findtext("HTTPProxyConnection/BasePath") or "",
        "backend": target.findtext("HTTPTargetConnection/URL") or "",
        "methods": methods,
        "cors": cors,
    }


def bundle_owner(data: bytes) -> str | None:
    """The owner a reconciler-generated bundle was built for (its `stoa.properties`), else None.

    The import that creates a proxy cannot carry labels; the bundle can. A proxy left unlabelled by an
    interrupted apply (import done, label PATCH not) is still provably ours through it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            text = archive.read("apiproxy/resources/properties/stoa.properties").decode()
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError):
        return None
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    owner = props.get("owner")
    return _props_unescape(owner) if owner else None



ALL_VERBS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_ANY_VERB = re.compile(r'request\.verb\s*(?:=|==|equals)\s*"([A-Za-z]+)"')
_NEGATED = re.compile(r"^\s*(?:NOT|!)\s*\((.*)\)\s*$", re.S)
#: Policy types a generated bundle expresses by itself (key check, the product's quota, CORS, the verb fault).
_EXPRESSED = frozenset({"VerifyAPIKey", "Quota", "CORS", "RaiseFault"})


def read_foreign_bundle(data: bytes) -> dict[str, Any]:
    """What a hand-made bundle (not generated by us) holds, in spec fields: the first ProxyEndpoint's
    base path, its route's target URL, the verbs its flows accept, its CORS policies (policy name ->
    config, lists sorted) and `unexpressed`, what a generated bundle would not carry over (said in the
    import report). ValueError when it is no readable bundle."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        descriptor = next(n for n in names if re.fullmatch(r"apiproxy/[^/]+\.xml", n))
        root = ElementTree.fromstring(archive.read(descriptor))
        proxies = sorted(n for n in names if re.fullmatch(r"apiproxy/proxies/[^/]+\.xml", n))
        targets = {n: ElementTree.fromstring(archive.read(n)) for n in names
                   if re.fullmatch(r"apiproxy/targets/[^/]+\.xml", n)}
        proxy = ElementTree.fromstring(archive.read(proxies[0]))
        policies = {n: ElementTree.fromstring(archive.read(n)) for n in names
                    if re.fullmatch(r"apiproxy/policies/[^/]+\.xml", n)}
    except (zipfile.BadZipFile, StopIteration, IndexError, KeyError, ElementTree.ParseError) as exc:
        raise ValueError(f"not a readable proxy bundle: {exc}") from None
    unexpressed: list[str] = []
    if len(proxies) > 1:
        unexpressed.append(f"{len(proxies)} proxy endpoints: only {proxies[0].rsplit('/', 1)[1][:-4]!r} is expressed")
    route = next((r.findtext("TargetEndpoint") for r in proxy.findall("RouteRule") if r.findtext("TargetEndpoint")), None)
    target = next((el for el in targets.values() if el.get("name") == route), None)
    if target is None and targets:
        target = next(iter(targets.values()))
    if len(targets) > 1:
        unexpressed.append(f"{len(targets)} target endpoints: only the default route's target is expressed")
    faults = {el.get("name") for el in policies.values() if el.tag == "RaiseFault"}
    verbs: list[str] = []
    verb_fault = None
    for step in proxy.iter("Step"):  # a fault raised unless the verb is one of a list: the allowed methods
        negated = _NEGATED.match(step.findtext("Condition") or "")
        if step.findtext("Name") in faults and negated is not None and not verbs:
            verbs = sorted({v.upper() for v in _ANY_VERB.findall(negated.group(1))} & set(ALL_VERBS))
            verb_fault = step.findtext("Name") if verbs else None
    unexpressed += [f"RaiseFault policy {f!r} (not the verb check) has no manifest form"
                    for f in sorted(str(f) for f in faults) if f != verb_fault]
    if not verbs:
        unexpressed.append("the proxy accepts every verb: written as all seven methods")
    cors: dict[str, dict[str, Any]] = {}
    verifies = False
    for path, element in sorted(policies.items()):
        name = element.get("name") or path.rsplit("/", 1)[1][:-4]
        if element.tag == "CORS":
            config = cors_from_xml(element)
            config["methods"] = [m.upper() for m in config["methods"]]
            cors[name] = {k: sorted(v) if isinstance(v, list) else v for k, v in config.items()}
        elif element.tag == "VerifyAPIKey":
            verifies = True
            key = element.find("APIKey")
            ref = (key.get("ref") if key is not None else None) or ""
            if ref != KEY_REF:
                unexpressed.append(f"VerifyAPIKey policy {name!r} reads the key from {ref or 'nowhere'}; "
                                   f"a generated bundle reads it from {KEY_REF}")
        elif element.tag == "Quota" and element.find("UseQuotaConfigInAPIProduct") is None:
            unexpressed.append(f"Quota policy {name!r} has its own limits (the API product's quota is what is expressed)")
        elif element.tag not in _EXPRESSED:
            unexpressed.append(f"{element.tag} policy {name!r} has no manifest form")
    return {
        "displayName": root.findtext("DisplayName") or None,
        "description": root.findtext("Description") or None,
        "basePath": (proxy.findtext("HTTPProxyConnection/BasePath") or "").rstrip("/") or "/",
        "backend": (target.findtext("HTTPTargetConnection/URL") if target is not None else "") or "",
        "methods": verbs or list(ALL_VERBS),
        "cors": cors,
        "verifiesApiKey": verifies,
        "unexpressed": unexpressed,
    }
