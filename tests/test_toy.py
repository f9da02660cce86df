import numpy as np
import pytest

from capsule_lesson import dynamic_routing
from capsule_lesson.toy import UPPER_NAMES, cats_and_dogs


def test_shapes_names_and_memberships():
    toy = cats_and_dogs()
    assert toy.u_hat.shape == (10, 3, 2)
    assert toy.upper_names == UPPER_NAMES == ("cat", "dog", "car")
    assert len(toy.lower_names) == 10 and toy.lower_names[toy.dual] == "eyes"
    # every part belongs to exactly one object, except the eyes, which belong to cat and dog
    counts = toy.members.sum(axis=1)
    assert counts[toy.dual] == 2 and np.all(np.delete(counts, toy.dual) == 1)
    assert toy.members[toy.dual].tolist() == [True, True, False]
    np.testing.assert_allclose(np.linalg.norm(toy.directions, axis=1), 1.0)


def test_deterministic_for_a_seed_and_different_across_seeds():
    np.testing.assert_array_equal(cats_and_dogs(seed=3).u_hat, cats_and_dogs(seed=3).u_hat)
    assert not np.allclose(cats_and_dogs(seed=3).u_hat, cats_and_dogs(seed=4).u_hat)


def test_members_agree_with_their_cluster_and_strays_are_short():
    toy = cats_and_dogs(length=3.0, spread=0.25, stray_length=(0.5, 1.5))
    lengths = np.linalg.norm(toy.u_hat, axis=-1)
    cos = np.einsum("ijd,jd->ij", toy.u_hat, toy.directions) / lengths
    assert np.all(cos[toy.members] > 0.9)
    strays = ~toy.members
    assert np.all((lengths[strays] >= 0.5) & (lengths[strays] <= 1.5))


def test_dual_ratio_sets_the_weaker_prediction():
    toy = cats_and_dogs(dual_ratio=0.5, length=2.0)
    np.testing.assert_allclose(np.linalg.norm(toy.u_hat[toy.dual, :2], axis=-1), [2.0, 1.0])


def test_routing_recovers_the_clusters():
    toy = cats_and_dogs()
    c = dynamic_routing(toy.u_hat, routings=10).c_history[-1]
    single = np.delete(np.arange(10), toy.dual)
    assert np.array_equal(c[single].argmax(axis=1), toy.members[single].argmax(axis=1))
    # the eyes stay shared under the article's rule
    assert c[toy.dual, 0] > 0.5 and c[toy.dual, 1] > 0.3


@pytest.mark.parametrize("kwargs", [dict(length=0), dict(spread=-1), dict(dual_ratio=0),
                                    dict(stray_length=(2.0, 1.0))])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        cats_and_dogs(**kwargs)
