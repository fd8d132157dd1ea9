import json, signal, threading, os
hits = []
signal.signal(signal.SIGUSR1, lambda s, f: hits.append(s))
def work(i):
    return sum(x * x for x in range(20000 * (i + 1)))
res = [0] * 6
def run(i):
    res[i] = work(i)
ts = [threading.Thread(target=run, args=(i,)) for i in range(6)]
[t.start() for t in ts]
os.kill(os.getpid(), signal.SIGUSR1)
[t.join() for t in ts]
print(json.dumps({"results": res, "signals": hits}, sort_keys=True))
print(json.loads(json.dumps({"a": [1, 2, {"b": None}]})))
