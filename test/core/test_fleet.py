"""Several clouds: who owns each robot, how a robot moves, and that no sample is taken twice."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from neucodex_ros.core.fleet import HELLO_FORGET, Fleet, cloud_fingerprint, owner, rendezvous_score

ROBOTS = [f'robot{n}' for n in range(40)]


def test_rendezvous_is_the_same_everywhere_and_moves_only_what_it_must():
    assert rendezvous_score('a', 'robot1') == rendezvous_score('a', 'robot1')  # unsalted
    three = {robot: owner(robot, ['a', 'b', 'c']) for robot in ROBOTS}
    assert set(Counter(three.values())) == {'a', 'b', 'c'}  # each gets a share
    assert three == {robot: owner(robot, ['c', 'a', 'b']) for robot in ROBOTS}  # any order
    without_b = {robot: owner(robot, ['a', 'c']) for robot in ROBOTS}
    assert all(without_b[r] == three[r] for r in ROBOTS if three[r] != 'b')  # only b's move
    with_d = {robot: owner(robot, ['a', 'b', 'c', 'd']) for robot in ROBOTS}
    assert all(with_d[r] in (three[r], 'd') for r in ROBOTS)  # d takes, nobody else moves
    assert 'd' in with_d.values()


class Clouds:
    """Fleets that hear each other's announcements, on one injected clock."""

    def __init__(self, *names: str, now: float = 0.0) -> None:
        self.now = now
        self.fleets = {name: Fleet(name, now) for name in names}
        self.open: dict[str, set[str]] = {name: set() for name in names}

    def add(self, name: str) -> None:
        self.fleets[name] = Fleet(name, self.now)
        self.open[name] = set()

    def run(self, seconds: float, dead: tuple[str, ...] = ()) -> None:
        """Announce, hear and update every 0.2 s; the dead neither speak nor act."""
        for _ in range(round(seconds / 0.2)):
            self.now += 0.2
            for name, fleet in self.fleets.items():
                if name in dead:
                    continue
                fleet.announced = self.now
                for other in self.fleets.values():
                    other.heard(name, set(fleet.claims), self.now)
            for name, fleet in self.fleets.items():
                if name not in dead:
                    fleet.update(self.now, self.open[name])

    def serving(self, robot: str) -> list[str]:
        return [name for name, fleet in self.fleets.items() if robot in fleet.claims]


def hear_all(clouds: Clouds, sample_id: int, hello: bool = False) -> dict[str, list[str]]:
    """Every cloud sees one message of every robot; who takes each."""
    return {robot: [name for name, fleet in clouds.fleets.items()
                    if fleet.takes(robot, sample_id, clouds.now, hello)] for robot in ROBOTS}


def test_each_robot_is_served_by_its_owner_once_the_clouds_have_heard_each_other():
    clouds = Clouds('a', 'b', 'c')
    assert all(not takers for takers in hear_all(clouds, 1, hello=True).values())
    clouds.run(0.8)  # still joining: nobody claims before dead_after
    assert all(not fleet.claims for fleet in clouds.fleets.values())
    clouds.run(0.6)
    assert all(clouds.serving(r) == [owner(r, 'abc')] for r in ROBOTS)
    assert all(takers == [owner(r, 'abc')] for r, takers in hear_all(clouds, 2).items())


def test_claiming_answers_the_hello_its_robot_is_waiting_with():
    fleet = Fleet('a', 0.0)
    assert not fleet.takes('robot0', 7, 0.1, hello=True)
    assert fleet.update(1.2, set()) == [('robot0', 7)]
    assert fleet.takes('robot0', 8, 1.3)


def test_a_dead_clouds_robots_move_to_the_others_and_its_samples_stay_unanswered():
    clouds = Clouds('a', 'b', 'c')
    hear_all(clouds, 9, hello=True)
    clouds.run(1.4)
    hear_all(clouds, 10)  # sample 10 of each robot started before b died
    orphans = [r for r in ROBOTS if owner(r, 'abc') == 'b']
    clouds.run(1.4, dead=('b',))
    for robot in orphans:
        assert set(clouds.serving(robot)) - {'b'} == {owner(robot, 'ac')}  # (b is dead)
    taken = hear_all(clouds, 10)  # the rest of sample 10: its new owner does not take it
    assert all(set(taken[r]) <= {'b'} for r in orphans)
    taken = hear_all(clouds, 11)
    assert all(set(taken[r]) - {'b'} == {owner(r, 'ac')} for r in orphans)


def test_a_joining_cloud_takes_its_share_only_after_the_owner_released_it():
    clouds = Clouds('a', 'b', 'c')
    hear_all(clouds, 10)
    clouds.run(1.4)
    moving = [r for r in ROBOTS if owner(r, 'abcd') == 'd']
    assert moving
    old = {r: owner(r, 'abc') for r in moving}
    for robot in moving:  # each old owner has a sample of its robot open
        clouds.open[old[robot]].add(robot)
    clouds.add('d')
    hear_all(clouds, 11)
    for _ in range(12):  # joining, then waiting for the release: never two claims
        clouds.run(0.2)
        assert all(len(clouds.serving(r)) == 1 for r in ROBOTS)
    assert all(clouds.serving(r) == [old[r]] for r in moving)  # draining its open sample
    for name in 'abc':
        clouds.open[name].clear()
    clouds.run(0.6)
    assert all(clouds.serving(r) == ['d'] for r in moving)
    assert all(takers == [owner(r, 'abcd')] for r, takers in hear_all(clouds, 20).items())


def test_a_stalled_cloud_drops_its_claims_and_joins_again():
    clouds = Clouds('a', 'b')
    hear_all(clouds, 1)
    clouds.run(1.4)
    mine = [r for r in ROBOTS if owner(r, 'ab') == 'a']
    a = clouds.fleets['a']
    clouds.run(1.2, dead=('a',))  # a froze: b counts it gone and takes its robots
    assert all(set(clouds.serving(r)) == {'a', 'b'} for r in mine)
    assert a.stalled(clouds.now) and not a.claims  # a wakes up: it serves nothing now
    assert not a.stalled(clouds.now)  # (once)
    assert all(not a.takes(r, 30, clouds.now) for r in mine)
    clouds.run(1.2)  # rejoined; b releases when asked by the rule, a takes back its own
    clouds.run(0.4)
    assert all(clouds.serving(r) == ['a'] for r in mine)


def test_fence_must_come_after_an_announcement_is_due_and_before_others_count_a_cloud_dead():
    with pytest.raises(ValueError):
        Fleet('a', 0.0, dead_after=1.0, fence=1.0)
    with pytest.raises(ValueError):
        Fleet('a', 0.0, dead_after=1.0, fence=0.1)


def test_a_robot_never_heard_before_is_taken_at_its_first_message_by_its_owner_alone():
    clouds = Clouds('a', 'b', 'c')
    clouds.run(1.4)  # joined, no robot yet
    assert all(takers == [owner(r, 'abc')] for r, takers in hear_all(clouds, 5).items())
    fresh = Fleet('d', clouds.now)  # not joined: it takes nothing, not even a new robot
    assert not fresh.takes('robot99', 1, clouds.now)


def test_the_fence_bounds_are_open_and_a_score_is_8_bytes_of_blake2b() -> None:
    Fleet('a', 0.0, dead_after=1.0, fence=0.21)
    Fleet('a', 0.0, dead_after=1.0, fence=0.99)
    with pytest.raises(ValueError, match='fence 0.2, dead_after 1.0'):
        Fleet('a', 0.0, dead_after=1.0, fence=0.2)
    score = rendezvous_score('a', 'robot1')
    assert 2**48 < score < 2**64  # (the chance it is below 2^48 is 1 in 65536)
    assert score != rendezvous_score('robot1', 'a') != rendezvous_score('a', 'robot2')


def test_robots_and_clouds_long_unheard_are_forgotten() -> None:
    from neucodex_ros.core.fleet import FORGET_AFTER

    fleet = Fleet('a', 0.0)
    fleet.heard('b', ['x'], 0.0)
    fleet.takes('robot1', 1, 2.0)  # robot1 heard at 2.0
    fleet.update(2.0, set())
    fleet.update(2.0 + FORGET_AFTER, set())
    assert 'robot1' in fleet.sources and 'b' in fleet.peers
    fleet.update(2.1 + FORGET_AFTER, set())
    assert 'robot1' not in fleet.sources and 'robot1' not in fleet.claims
    fleet.update(2 * FORGET_AFTER, set())
    assert 'b' in fleet.peers  # peers last twice as long
    fleet.update(2 * FORGET_AFTER + 0.1, set())
    assert 'b' not in fleet.peers


def test_a_cloud_that_joined_claims_nothing_before_dead_after() -> None:
    fleet = Fleet('a', 10.0, dead_after=1.0, fence=0.5)
    assert not fleet.takes('robot1', 1, 10.5)
    assert fleet.update(10.99, set()) == [] and not fleet.claims
    assert fleet.update(11.0, set()) == [('robot1', None)] and fleet.claims == {'robot1'}
    assert fleet.takes('robot1', 2, 11.1) and not fleet.takes('robot1', 1, 11.1)


def test_the_edges_of_live_and_stalled_are_inclusive_and_a_new_fleet_is_not_stalled() -> None:
    fleet = Fleet('a', 0.0, dead_after=1.0, fence=0.5)
    assert not fleet.stalled(0.1)
    fleet.heard('b', [], 1.0)
    assert fleet.live(2.0) == ['a', 'b'] and fleet.live(2.01) == ['a']
    fleet.announced = 3.0
    assert not fleet.stalled(3.5) and fleet.stalled(3.51)


def test_a_stalled_cloud_waits_dead_after_again_before_it_claims() -> None:
    fleet = Fleet('a', 0.0, dead_after=1.0, fence=0.5)
    fleet.takes('robot1', 1, 2.0)
    assert fleet.claims == {'robot1'}
    assert fleet.stalled(2.0) and not fleet.claims  # announced last at 0.0
    assert fleet.update(2.99, set()) == [] and fleet.update(3.0, set()) == [('robot1', None)]


def test_a_robot_handed_over_and_back_is_served_again_and_its_hello_answered_once() -> None:
    fleet = Fleet('a', 0.0)
    robots = [f'robot{n}' for n in range(12)]
    for n, robot in enumerate(robots):
        assert fleet.takes(robot, n, 2.0)  # joined, alone: each claimed at its first message
    moved = [r for r in robots if owner(r, 'ab') == 'b']
    assert moved
    for cycle, start in enumerate((2.0, 4.0)):  # b appears, then dies; twice
        fleet.heard('b', [], start)
        assert fleet.update(start, set()) == []
        assert fleet.claims == set(robots) - set(moved) and not fleet.releasing
        if cycle == 0:
            fleet.takes(moved[0], 50, start + 0.5, hello=True)  # to a, while b was silent
        hellos = [50 if r == moved[0] and cycle == 0 else None for r in moved]
        assert fleet.update(start + 1.5, set()) == list(zip(moved, hellos, strict=True))
        assert fleet.claims == set(robots) and not fleet.releasing
        assert all(fleet.takes(r, 100 + 10 * cycle, start + 1.6) for r in robots)


def test_a_peer_heard_recently_is_not_forgotten_however_late_the_clock() -> None:
    fleet = Fleet('a', 100.0)
    fleet.heard('b', [], 100.0)
    fleet.update(101.0, set())
    assert 'b' in fleet.peers


def test_a_cloud_deaf_to_the_others_takes_no_sample_addressed_to_one_of_them() -> None:
    """Discovery does not keep order: d hears the robot, not yet the cloud serving it."""
    d = Fleet('d', 0.0)
    b = cloud_fingerprint('b')
    assert not d.takes('robot1', 5, 2.0, addressed=b)  # claimed at its first message, and yet
    assert d.claims == {'robot1'}
    assert d.takes('robot1', 6, 2.0, addressed=d.fingerprint) and d.takes('robot1', 7, 2.0)


def test_a_sample_addressed_to_another_cloud_is_taken_once_it_let_go() -> None:
    fleet = Fleet('a', 0.0)
    b = cloud_fingerprint('b')
    fleet.heard('b', ['robot1'], 2.0)
    fleet.claims.add('robot1')  # (both claim it: their views differ for a moment)
    fleet.takes('robot1', 1, 2.0)
    assert not fleet.takes('robot1', 10, 2.0, addressed=b)  # b serves it
    fleet.heard('b', [], 2.1)  # b released it
    assert not fleet.takes('robot1', 10, 2.1, addressed=b)  # a sample that b had: stays b's
    assert fleet.takes('robot1', 11, 2.1, addressed=b)
    fleet.heard('b', ['robot1'], 2.2)
    assert not fleet.takes('robot1', 12, 2.2, addressed=b)
    assert fleet.takes('robot1', 13, 3.3, addressed=b)  # b died (not heard for dead_after)


def test_a_cloud_fingerprint_is_32_bits_never_zero_and_the_same_everywhere() -> None:
    assert cloud_fingerprint('a') == int.from_bytes(
        hashlib.blake2b(b'a', digest_size=4).digest(), 'big')
    assert 0 < cloud_fingerprint('b') < 2**32 and cloud_fingerprint('a') != cloud_fingerprint('b')


def test_a_direct_sample_is_taken_by_the_cloud_it_names_alone_whatever_the_claims():
    clouds = Clouds('a', 'b', 'c')
    hear_all(clouds, 9, hello=True)
    clouds.run(1.4)  # claims settled
    robot = ROBOTS[0]
    serving = owner(robot, 'abc')
    other = next(c for c in 'abc' if c != serving)
    direct = {name: fleet.takes(robot, 10, clouds.now, addressed=cloud_fingerprint(other),
                                direct=True) for name, fleet in clouds.fleets.items()}
    assert direct == {name: name == other for name in 'abc'}  # not even its claimer
    assert not clouds.fleets[other].takes(robot, 11, clouds.now, hello=True, direct=True)


def test_a_hedged_sample_is_taken_by_the_next_cloud_after_the_one_it_left_whatever_claims():
    clouds = Clouds('a', 'b', 'c')
    hear_all(clouds, 9, hello=True)
    clouds.run(1.4)
    robot = ROBOTS[0]
    left = owner(robot, 'abc')
    hedge = {name: fleet.takes(robot, 9, clouds.now, addressed=cloud_fingerprint(left),
                               hedge=True) for name, fleet in clouds.fleets.items()}
    rest = 'abc'.replace(left, '')
    assert hedge == {name: name == owner(robot, rest) for name in 'abc'}  # (an old id too)


def test_a_flood_of_made_up_robots_claims_at_most_max_sources_and_hellos_alone_are_forgotten():
    fleet = Fleet('a', now=-2.0, max_sources=100)
    taken = sum(fleet.takes(f'fake{n}', 1, 0.0, hello=True) for n in range(20_000))
    assert taken == 100 and len(fleet.claims) == 100 and len(fleet.refused) == 19_900
    assert fleet.takes('fake0', 2, 0.1)  # a sample: this one is a robot after all
    fleet.update(HELLO_FORGET + 0.5, set())
    assert fleet.claims == {'fake0'} and not fleet.refused  # hellos alone: forgotten
    assert fleet.takes('robot0', 3, HELLO_FORGET + 0.6)  # room again for a real robot
