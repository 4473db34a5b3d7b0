"""Verify a pi-sandbox evidence bundle without pi-sandbox (docs/evidence.md): python verify_bundle.py BUNDLE [PUBLIC_KEY_HEX]"""
import hashlib, json, sys, rfc8785; from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # pip install rfc8785 cryptography
H, D, C = (lambda data: hashlib.sha256(data).digest()), (lambda value: hashlib.sha256(rfc8785.dumps(value)).hexdigest()), (lambda f: {n: D({"name": n, "salt": d["salt"], "value": d["value"]}) for n, d in f["disclosed"].items()})  # D: RFC 8785, C: disclosed commitments
SECTIONS = ("alerts", "telemetry", "exec_mediation", "secret_broker", "quota_breaches", "trust_transitions", "kill_switch_events"); TARGETS = {"alerts": {"context_hash": "context_hash", "remediation": "remediation"}, "exec_mediation": {"command_hash": "command_hash"}, "secret_broker": {"name_hash": "name_hash", "name_hashes": "name_hash"}}
def signed(cp, key):  # Ed25519 over the canonical {schema, seq, head_hash, ts_ms[, merkle_root]}
    payload = {**{k: cp[k] for k in ("seq", "head_hash", "ts_ms", "merkle_root") if cp.get(k) is not None}, "schema": "pi.security.ledger_checkpoint.v1"}
    try: return Ed25519PublicKey.from_public_bytes(bytes.fromhex(key)).verify(bytes.fromhex(cp["signature"]), rfc8785.dumps(payload)) or cp["public_key"] == key
    except Exception: return False
def included(leaf, index, size, path, root):  # RFC 9162 section 2.1.3.2, leaf = entry_hash
    r, fn, sn = H(b"\0" + bytes.fromhex(leaf)), index, size - 1
    for p in map(bytes.fromhex, path):
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = H(b"\1" + p + r)
            while fn and not fn & 1: fn, sn = fn >> 1, sn >> 1
        else: r = H(b"\1" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r.hex() == root
def verify(b, key=None):
    L, E, key, red = b["risk_ledger"], b["risk_ledger"]["entries"], key or b["source"]["public_key"], b["redaction"]
    cps, proofs = {c["seq"]: c for c in L["checkpoints"]}, {p["seq"]: p for p in L["proofs"]}
    h = {e["seq"]: D({k: v for k, v in e.items() if k != "entry_hash"}) for e in E}
    ok = all(signed(c, key) for c in L["checkpoints"]) and all(h[e["seq"]] == e["entry_hash"] for e in E)
    ok &= all(a["seq"] < c["seq"] and (a["seq"] + 1 < c["seq"] or c["prev_hash"] == h[a["seq"]]) for a, c in zip(E, E[1:]))
    ok &= all(cps[s]["head_hash"] == h[s] for s in h if s in cps) and set(L["forensics"]) <= {str(s) for s in h}
    for i, e in enumerate(E):
        s, f = e["seq"], L["forensics"].get(str(e["seq"]))
        if i + 1 == len(E) or E[i + 1]["seq"] != s + 1:  # the last entry of a run of consecutive seqs needs a proof
            p = proofs.get(s); c = cps.get(p and p["checkpoint_seq"]) or {}
            ok &= bool(p) and (c.get("head_hash") == h[s] if p["type"] == "head" else included(h[s], s - 1, c.get("seq", 0), p["path"], c.get("merkle_root")))
        ok &= (f is None) == ("forensic_digest" not in e["detail"]) and (f is None or D({**f["commitments"], **C(f)}) == e["detail"]["forensic_digest"]
                                                                         and all(f["commitments"].get(n, v) == v for n, v in C(f).items()))
    ok &= not L["complete"] or [e["seq"] for e in E] == list(range(1, b["source"]["head_seq"] + 1)) and (
        not E or E[0]["prev_hash"] == H(b"pi.security.ledger.v1:genesis").hex())
    ok &= all(b[s] == [{k: e[k] for k in ("seq", "ts_ms", "extension_id", "decision", "reason", "detail")} for e in E if e["kind"] == k]
              for s, k in (("trust_transitions", "trust"), ("kill_switch_events", "kill_switch")))
    n = {**{s: len(b[s]) for s in SECTIONS}, "risk_ledger": len(E), "checkpoints": len(L["checkpoints"]), "proofs": len(L["proofs"]),
         "forensic_records": len(L["forensics"]), "config_versions": len(b["config"]["versions"])}
    summary = {"counts": n, "distinct_extensions": sorted({x["extension_id"] for x in E + b["alerts"]} - {None}),
               "deny_count": sum(e["decision"] in ("deny", "invalid", "timeout") for e in E)}
    leak = any(red["redact_" + {"params": "params_hash"}.get(n, n)] for f in L["forensics"].values() for n in f["disclosed"])
    leak |= any(red["redact_" + flag] and x.get("payload", x).get(fld) not in (None, "[REDACTED]", ["[REDACTED]"] * len(x.get("payload", x).get(fld) or []))
                for s, t in TARGETS.items() for x in b[s] for fld, flag in t.items())
    schema = b["schema"] in ("pi.security.incident_evidence_bundle.v1", "pi.ext.incident_evidence_bundle.v1") and L["schema"] == "pi.security.ledger.v1"
    return [k for k, good in (("bundle_hash", D({k: v for k, v in b.items() if k != "bundle_hash"}) == b["bundle_hash"]), ("chain", ok),
                              ("summary", b["summary"] == summary), ("schema", schema), ("redaction", not leak)) if not good]
if __name__ == "__main__":  # a bundle that is not JSON of this shape (truncated, garbled) fails as unreadable, no traceback
    try: failed = verify(json.load(open(sys.argv[1], "rb")), *sys.argv[2:3])
    except Exception as exc: failed = [f"readable ({type(exc).__name__}: {exc})"[:300]]
    print("\n".join(f"FAILED: {s}" for s in failed) or "VALID"); sys.exit(bool(failed))
