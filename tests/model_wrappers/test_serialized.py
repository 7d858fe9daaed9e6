"""A loaded model runs one predict at a time, whichever threads call it."""
import threading
import time

from model_wrappers.base import Serialized


class _Stateful:
    """Like a diffusers scheduler: state set at the start of a call and read at its end."""
    def __init__(self):
        self.active, self.overlaps, self.state = 0, 0, None

    def predict(self, requests):
        self.active += 1
        self.overlaps += self.active > 1
        self.state = requests[0]
        time.sleep(0.002)
        out = [self.state]
        self.active -= 1
        return out


def _hammer(model, threads=4, calls=25):
    results = []

    def work(t):
        for i in range(calls):
            results.append(model.predict([(t, i)]) == [(t, i)])
    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return results


def test_calls_from_threads_never_overlap_and_each_gets_its_own_answer():
    runner = _Stateful()
    results = _hammer(Serialized(runner))
    assert runner.overlaps == 0 and len(results) == 100 and all(results)
    assert Serialized(runner).state == runner.state   # the runner's attributes stay reachable


def test_without_the_lock_the_same_runner_mixes_answers():
    runner = _Stateful()
    results = _hammer(runner)
    assert runner.overlaps > 0 and not all(results)
