import pytest
import torch
import torch.nn.functional as F

from mdeinterp.selectivity import (
    MATMUL_BLOCK,
    DepthResponse,
    assigned_bins,
    bin_sums,
    chance_near_fraction,
    depth_bins,
    near_assigned_fraction,
    preferred_bins,
    response_sums,
    selectivity_index,
    selectivity_loss,
    selectivity_losses,
    sid_edges,
)

D64 = torch.float64


def _example(vectors):
    e = vectors["example"]
    return e, torch.tensor(e["features"], dtype=D64), torch.tensor(e["depth"], dtype=D64), sid_edges(e["K"], 0.75, 10.0)


def naive_sums(features, depth, edges):
    """Straightforward definition: upsample, then loop over bins (the reference's way)."""
    up = F.interpolate(features, size=depth.shape[-2:], mode="bilinear", align_corners=False)
    bins = depth_bins(depth[:, 0], edges)
    sums = torch.stack([up.permute(1, 0, 2, 3)[:, bins == k].sum(1) for k in range(len(edges) - 1)], 1)
    counts = torch.stack([(bins == k).sum() for k in range(len(edges) - 1)]).to(D64)
    return sums, counts


@pytest.mark.parametrize("name", ["nyuv2_K64", "nyuv2_K32", "nyuv2_K8", "kitti_K64", "kitti_K32"])
def test_sid_edges_match_reference(selectivity_vectors, name):
    dataset, k = name.split("_K")
    d_min, d_max = (0.75, 10.0) if dataset == "nyuv2" else (3.0, 80.0)
    expected = torch.tensor(selectivity_vectors["sid_edges"][name], dtype=D64)
    got = sid_edges(int(k), d_min, d_max)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_reference_example_counts_sums_and_loss(selectivity_vectors):
    e, features, depth, edges = _example(selectivity_vectors)
    response = DepthResponse.zeros(features.shape[1], edges)
    response.update(features, depth)
    assert response.counts.tolist() == e["counts"]
    # The reference's per-unit arrays carry float32 rounding (its own sums/counts differ from its
    # mean_response by 6e-8), so they are matched to float32 precision ...
    torch.testing.assert_close(response.sums, torch.tensor(e["sums"], dtype=D64), rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(response.mean_response, torch.tensor(e["mean_response"], dtype=D64), rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(selectivity_index(response.mean_response), torch.tensor(e["selectivity_dissection"], dtype=D64),
                               rtol=1e-7, atol=1e-7)
    assert preferred_bins(response.mean_response).tolist() == e["preferred_bin"]
    assigned = assigned_bins(features.shape[1], e["K"])
    assert assigned.tolist() == e["assigned_bin"]
    s, c = bin_sums(features.abs(), depth, edges)
    torch.testing.assert_close(selectivity_index(s / (c + 1e-15), assigned),
                               torch.tensor(e["selectivity_assigned_abs"], dtype=D64), rtol=1e-7, atol=1e-7)
    # ... while the layer loss term, computed in float64 by the reference, agrees to 1e-12.
    assert abs(selectivity_loss(features, depth, edges).item() - e["layer_loss_term"]) < 1e-12


# (feature size, depth size): 2x as in the paper, a non-integer ratio, 4x, equal sizes, downsampling
SIZES = [((6, 8), (12, 16)), ((7, 9), (23, 31)), ((5, 6), (20, 24)), ((9, 11), (9, 11)), ((9, 12), (5, 7))]


@pytest.mark.parametrize("feature_size, depth_size", SIZES)
def test_fast_sums_equal_upsample_then_loop(feature_size, depth_size):
    g = torch.Generator().manual_seed(0)
    features = torch.randn(3, 5, *feature_size, generator=g, dtype=D64)
    depth = torch.rand(3, 1, *depth_size, generator=g, dtype=D64) * 12 - 1  # some invalid (<0, >10)
    depth[0, 0, 0, :2] = torch.tensor([float("nan"), float("inf")])
    edges = sid_edges(6, 0.75, 10.0)
    slow_sums, slow_counts = naive_sums(features, depth, edges)
    for fast_sums, fast_counts in (bin_sums(features, depth, edges), response_sums(features, depth, edges)):
        torch.testing.assert_close(fast_sums, slow_sums, rtol=1e-12, atol=1e-12)
        assert torch.equal(fast_counts, slow_counts)


@pytest.mark.parametrize("feature_size, depth_size", [((57, 61), (114, 122)), ((47, 61), (123, 97))])
def test_float32_dissection_within_1e_6_of_float64(feature_size, depth_size):
    # float32 features are multiplied in float32 blocks of MATMUL_BLOCK pixels (these maps need more than
    # one block; 47 x 61 leaves a remainder) whose results are added in float64: bound the error of that
    g = torch.Generator().manual_seed(3)
    features = torch.rand(2, 16, *feature_size, generator=g) * 4
    assert features.shape[-2] * features.shape[-1] > MATMUL_BLOCK
    depth = torch.rand(2, 1, *depth_size, generator=g) * 10.5
    edges = sid_edges(16, 0.75, 10.0)
    exact_sums, exact_counts = bin_sums(features.double(), depth, edges)
    sums, counts = response_sums(features, depth, edges)
    assert sums.dtype == torch.float64 and torch.equal(counts, exact_counts)
    assert ((sums - exact_sums).abs() / exact_sums.abs()).max() <= 1e-6
    response = DepthResponse.zeros(16, edges)
    for _ in range(3):  # float64 accumulation across batches
        response.update(features, depth)
    assert response.sums.dtype == torch.float64
    assert ((response.sums - 3 * exact_sums).abs() / (3 * exact_sums).abs()).max() <= 1e-6


def test_depth_bins_edges_and_invalid():
    edges = sid_edges(4, 0.75, 10.0)
    depth = torch.tensor([0.0, -1.0, 0.5, 0.75, 0.7500001, 10.0, 10.5, float("nan"), float("inf")], dtype=D64)
    bins = depth_bins(depth, edges)
    # bin k holds (edges[k], edges[k+1]]: 0.5 and 0.75 are bin 0; beyond d_max, NaN, Inf, <= 0 are -1
    assert bins.tolist() == [-1, -1, 0, 0, 1, 3, -1, -1, -1]


def test_unit_firing_in_one_bin_has_selectivity_one_and_constant_unit_zero():
    edges = sid_edges(4, 0.75, 10.0)
    depth = torch.tensor([0.5, 1.0, 3.0, 8.0], dtype=D64).view(1, 1, 1, 4)  # one pixel per bin
    features = torch.tensor([[0.0, 2.0, 0.0, 0.0], [1.5, 1.5, 1.5, 1.5]], dtype=D64).view(1, 2, 1, 4)
    response = DepthResponse.zeros(2, edges)
    response.update(features, depth)
    ds = selectivity_index(response.mean_response)
    torch.testing.assert_close(ds, torch.tensor([1.0, 0.0], dtype=D64))
    # a hand-computed case: responses (4, 2, 2, 0) -> r_max 4, others mean 4/3, DS = (8/3)/(16/3) = 0.5
    assert selectivity_index(torch.tensor([[4.0, 2.0, 2.0, 0.0]], dtype=D64)).item() == pytest.approx(0.5, abs=1e-15)


def test_streaming_over_batches_equals_one_pass():
    g = torch.Generator().manual_seed(1)
    features = torch.randn(6, 4, 5, 6, generator=g)
    depth = torch.rand(6, 1, 10, 12, generator=g) * 10
    edges = sid_edges(4, 0.75, 10.0)
    one = DepthResponse.zeros(4, edges)
    one.update(features, depth)
    streamed = DepthResponse.zeros(4, edges)
    for chunk in range(3):
        streamed.update(features[2 * chunk: 2 * chunk + 2], depth[2 * chunk: 2 * chunk + 2])
    torch.testing.assert_close(streamed.sums, one.sums, rtol=1e-12, atol=1e-12)
    assert torch.equal(streamed.counts, one.counts)
    merged = DepthResponse.zeros(4, edges)
    half = DepthResponse.zeros(4, edges)
    merged.update(features[:3], depth[:3])
    half.update(features[3:], depth[3:])
    added = merged + half
    torch.testing.assert_close(added.sums, one.sums, rtol=1e-12, atol=1e-12)
    assert torch.equal(merged.sums + half.sums, added.sums) and torch.equal(added.counts, one.counts)
    with pytest.raises(ValueError, match="bin edges must be the same"):
        merged + DepthResponse.zeros(4, sid_edges(4, 1.0, 10.0))


def test_assigned_bins_and_errors():
    assert assigned_bins(8, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert assigned_bins(128, 64).tolist()[:4] == [0, 0, 1, 1]
    assert assigned_bins(64, 64).tolist() == list(range(64))
    with pytest.raises(ValueError, match="more bins"):
        assigned_bins(4, 8)


def test_selectivity_loss_gradcheck():
    g = torch.Generator().manual_seed(2)
    features = (torch.rand(2, 4, 3, 3, generator=g, dtype=D64) + 0.1).requires_grad_()
    depth = torch.rand(2, 1, 6, 6, generator=g, dtype=D64) * 9 + 0.8
    edges = sid_edges(4, 0.75, 10.0)
    assert torch.autograd.gradcheck(lambda f: selectivity_loss(f, depth, edges), (features,))


def test_selectivity_loss_absent_bin_counts_zero():
    edges = sid_edges(4, 0.75, 10.0)
    depth = torch.full((1, 1, 2, 2), 0.5, dtype=D64)  # every pixel in bin 0
    features = torch.ones(1, 4, 2, 2, dtype=D64)  # assigned bins 0, 1, 2, 3
    # unit 0: its bin holds all pixels (r=1, others 0) -> DS 1; units 1..3: bin absent -> 0
    assert selectivity_loss(features, depth, edges).item() == pytest.approx(0.25, abs=1e-12)


def test_near_assigned_fraction_and_chance():
    assert near_assigned_fraction(torch.tensor([0, 5, 2]), torch.tensor([1, 1, 2]), tolerance=2) == pytest.approx(2 / 3)
    # K = 5, tolerance 2: windows of sizes 3,4,5,4,3 -> 19/25
    assert chance_near_fraction(5, 2) == pytest.approx(19 / 25)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("edges", [sid_edges(64, 0.75, 10.0), sid_edges(32, 3.0, 80.0), sid_edges(2, 0.75, 10.0),
                                   torch.tensor([0.0, 0.1, 0.35, 2.0, 2.05, 7.5], dtype=D64)])
def test_grid_bucketize_equals_binary_search(dtype, edges):
    from mdeinterp.selectivity import _fast_bucketize

    boundaries = edges.to(dtype)
    g = torch.Generator().manual_seed(4)
    at = boundaries.repeat(3)
    # every boundary, its neighbours one ulp away, random depths in and beyond the range, and the specials
    near = torch.cat([at, torch.nextafter(at, at + 1), torch.nextafter(at, at - 1)])
    spread = torch.rand(20000, generator=g, dtype=D64).to(dtype) * float(boundaries[-1]) * 1.1
    special = torch.tensor([0.0, -0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e-30], dtype=dtype)
    depth = torch.cat([near, spread, special])
    assert torch.equal(_fast_bucketize(depth, boundaries), torch.bucketize(depth, boundaries))


def test_layers_sharing_size_and_edges_give_the_same_terms_as_one_call_each():
    torch.manual_seed(3)
    depth = torch.rand(2, 1, 16, 24) * 9 + 0.8
    depth[0, 0, :2] = 0.0  # invalid pixels
    shared, other = sid_edges(16, 0.75, 10.0), sid_edges(16, 0.75, 10.0)  # equal values, different objects
    acts = {
        "a": torch.randn(2, 16, 8, 12, dtype=D64, requires_grad=True),  # a, b: one group (same size, same edges)
        "b": torch.randn(2, 32, 8, 12, dtype=D64, requires_grad=True),
        "c": torch.randn(2, 16, 8, 12, dtype=D64, requires_grad=True),  # same size, other edges object
        "d": torch.randn(2, 64, 4, 6, dtype=D64, requires_grad=True),  # other size
    }
    edges = {"a": shared, "b": shared, "c": other, "d": sid_edges(64, 0.75, 10.0)}
    terms = selectivity_losses(acts, depth, edges)
    assert list(terms) == list(acts)
    for layer, features in acts.items():
        expected = selectivity_loss(features, depth, edges[layer])
        assert terms[layer].item() == pytest.approx(expected.item(), rel=1e-12, abs=1e-14)
        grad_shared, = torch.autograd.grad(terms[layer], features, retain_graph=True)
        grad_alone, = torch.autograd.grad(expected, features)
        torch.testing.assert_close(grad_shared, grad_alone, rtol=1e-10, atol=1e-14)


def test_training_term_and_dissection_never_read_tensor_values_on_the_host():
    # meta tensors have no values, so a host read (bool, .item(), data-sized outputs) raises: what runs
    # here runs on a GPU without a device-to-host synchronisation (the CPU-only fast paths are skipped).
    meta = torch.device("meta")
    depth = torch.rand(2, 1, 16, 16, device=meta)
    edges = sid_edges(32, 0.75, 10.0).to(meta)
    acts = {name: torch.rand(2, 32, 8, 8, device=meta, requires_grad=True) for name in ("D", "MFF")}
    terms = selectivity_losses(acts, depth, {"D": edges, "MFF": edges})
    sum(terms.values()).backward()
    assert acts["D"].grad.device == meta
    sums, counts = response_sums(acts["D"].detach(), depth, edges)
    assert sums.shape == (32, 32) and counts.shape == (32,) and sums.device == meta


def test_reference_fixtures_are_in_the_repository_and_a_missing_one_fails():
    from conftest import REFERENCE, reference_file

    assert REFERENCE.parent.name == "tests" and reference_file("selectivity_vectors.json").is_file()
    with pytest.raises(pytest.fail.Exception, match="missing"):
        reference_file("no_such_fixture.json")
