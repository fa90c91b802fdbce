"""the product's error_rate_difference over the common clips of two eval folders. usage: bootp.py A[:sys] B[:sys]"""
import json, sys
from blsp_kd.eval.metrics import error_rate_difference
def rep(arg):
    p, _, system = arg.partition(":")
    return {u["id"]: u for u in map(json.loads, open(p + "/utterances.jsonl")) if u["task"] == "repeat" and u["system"] == (system or "speech")}
a, b = rep(sys.argv[1]), rep(sys.argv[2])
ids = sorted(set(a) & set(b))
d = error_rate_difference([a[i]["reference"] for i in ids], [a[i]["output"] for i in ids], [b[i]["output"] for i in ids])
print(f"{len(ids)} clips: {sys.argv[1]} - {sys.argv[2]} = {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]")
