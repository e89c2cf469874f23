"""QuantumKernelSVC / QuantumKernelRidge: both SVM routes equal SVC(kernel="precomputed"), the
scikit-learn contract, Pipeline and GridSearchCV, and clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier
from sklearn.svm import SVC

from qcstar.circuits import ConfigError, DataError, ShapeError
from qcstar.encoders import AmplitudeEncoder
from qcstar.kernels import (FidelityKernel, ProjectedKernel, QuantumKernelRidge, QuantumKernelSVC, class_pairs,
                            fidelity_gram, vote)


def _digits(n_train: int, n_test: int):
    d = load_digits()
    x = d.data / np.linalg.norm(d.data, axis=1, keepdims=True)  # exact amplitude states (real, 64 = 2**6)
    s = torch.tensor(x, dtype=torch.complex128)
    return s[:n_train], d.target[:n_train], s[n_train:n_train + n_test], d.target[n_train:n_train + n_test]


def _multiclass_dual(ref: SVC, i: int, j: int, train_index: np.ndarray) -> dict[int, float]:
    """LIBSVM's dual coefficients of the (i, j) problem inside a multiclass SVC, by training index."""
    starts = np.concatenate([[0], np.cumsum(ref.n_support_)])
    out = {}
    for cls, row in ((i, j - 1), (j, i)):
        for pos in range(starts[cls], starts[cls + 1]):
            out[int(train_index[ref.support_[pos]])] = float(ref.dual_coef_[row, pos])
    return out


def _check_routes_equal_precomputed_svc(s_tr, y_tr, s_te, y_te) -> None:
    n_train = len(y_tr)
    k_tr, k_te = fidelity_gram(s_tr), fidelity_gram(s_te, s_tr)
    ref = SVC(kernel="precomputed", C=1.0, decision_function_shape="ovo").fit(k_tr, y_tr)
    ref_pred, ref_dec = ref.predict(k_te), ref.decision_function(k_te)
    # route 1: the per-pair problems are the multiclass SVC's own, in the same arithmetic
    gram = QuantumKernelSVC(C=1.0, route="gram").fit(s_tr, y_tr)
    np.testing.assert_array_equal(gram.predict(s_te), ref_pred)
    np.testing.assert_allclose(gram.decision_function(s_te), ref_dec, atol=1e-8)
    for (i, j), (pos, coef, _) in zip(class_pairs(10), gram.models_):
        ours = dict(zip(gram.support_[pos].tolist(), coef.tolist()))
        theirs = {t: c for t, c in _multiclass_dual(ref, i, j, np.arange(n_train)).items() if y_tr[t] in (i, j) and c}
        assert set(ours) == set(theirs)
        np.testing.assert_allclose([ours[t] for t in sorted(ours)], [theirs[t] for t in sorted(ours)], atol=1e-8)
    assert gram.score(s_te, y_te) == pytest.approx(float(np.mean(ref_pred == y_te)))
    # route 2: LIBSVM sums (a.b) in its own order, so the SMO path may differ within its tolerance:
    # the same predictions at the default tol, the same optimum to 1e-8 at a tight tol
    poly = QuantumKernelSVC(C=1.0, route="poly").fit(s_tr, y_tr)
    np.testing.assert_array_equal(poly.predict(s_te), ref_pred)
    tight_ref = SVC(kernel="precomputed", C=1.0, tol=1e-10, decision_function_shape="ovo").fit(k_tr, y_tr)
    tight = QuantumKernelSVC(C=1.0, route="poly", tol=1e-10).fit(s_tr, y_tr)
    np.testing.assert_array_equal(tight.support_, tight_ref.support_)
    np.testing.assert_allclose(tight.poly_models_[0].dual_coef_, tight_ref.dual_coef_, atol=1e-8)
    np.testing.assert_allclose(tight.decision_function(s_te), tight_ref.decision_function(k_te), atol=1e-8)


def test_both_routes_equal_the_precomputed_svc_on_digits_amplitude_states():
    _check_routes_equal_precomputed_svc(*_digits(400, 150))


@pytest.mark.slow
@pytest.mark.data
def test_both_routes_equal_the_precomputed_svc_on_mnist_2000_500(data_dir):
    from qcstar.data import load_images

    x_tr, y_tr = load_images("mnist", "train", data_dir=data_dir)
    x_te, y_te = load_images("mnist", "test", data_dir=data_dir)
    enc = AmplitudeEncoder()  # MNISQ's exact amplitude states, 28 x 28 -> 10 qubits
    _check_routes_equal_precomputed_svc(enc.states(x_tr[:2000]), y_tr[:2000].numpy(),
                                        enc.states(x_te[:500]), y_te[:500].numpy())


def test_sklearn_tie_rule_reproduces_one_vs_one_classifier():
    s_tr, y_tr, s_te, _ = _digits(300, 150)
    k_tr, k_te = fidelity_gram(s_tr), fidelity_gram(s_te, s_tr)
    ovo = OneVsOneClassifier(SVC(kernel="precomputed", C=1.0)).fit(k_tr, y_tr)
    pairs = class_pairs(10)
    # OneVsOneClassifier's estimators: positive -> the pair's second class; vote() takes positive -> first
    dec = np.stack([-est.decision_function(k_te[:, np.isin(y_tr, [i, j])]) for est, (i, j) in zip(ovo.estimators_, pairs)],
                   axis=1)
    np.testing.assert_array_equal(ovo.classes_[vote(dec, 10, rule="sklearn")], ovo.predict(k_te))
    # a constructed tie: three classes, each winning one pair -> LIBSVM picks class 0, sklearn the most confident
    tie = np.array([[0.1, -0.2, 0.9]])  # pairs (0,1): 0 wins, (0,2): 2 wins, (1,2): 1 wins
    assert vote(tie, 3, rule="libsvm")[0] == 0
    assert vote(tie, 3, rule="sklearn")[0] == 1  # class 1: -0.1 + 0.9 = 0.8, the largest confidence sum
    with pytest.raises(ShapeError, match=r"need decision values \(M, 3\)"):
        vote(np.zeros((2, 2)), 3)


def test_one_vs_rest_routes_equal_one_vs_rest_classifier():
    s_tr, y_tr, s_te, _ = _digits(300, 100)
    k_tr, k_te = fidelity_gram(s_tr), fidelity_gram(s_te, s_tr)
    for tol, routes in ((1e-3, ("gram",)), (1e-10, ("gram", "poly"))):  # poly: to 1e-8 at a tight tol (see above)
        ref = OneVsRestClassifier(SVC(kernel="precomputed", C=1.0, tol=tol)).fit(k_tr, y_tr)
        for route in routes:
            clf = QuantumKernelSVC(multiclass="ovr", route=route, tol=tol).fit(s_tr, y_tr)
            np.testing.assert_array_equal(clf.predict(s_te), ref.predict(k_te))
            np.testing.assert_allclose(clf.decision_function(s_te), ref.decision_function(k_te), atol=1e-8)
    assert QuantumKernelSVC(multiclass="ovr").fit(s_tr, y_tr).route_ == "poly"  # auto: real states


def _unbalanced_weighted_digits():
    """Digits with classes 5-9 thinned to a third, random sample weights (a few exactly 0)."""
    s_tr, y_tr, s_te, y_te = _digits(450, 120)
    keep = np.flatnonzero((y_tr < 5) | (np.arange(len(y_tr)) % 3 == 0))
    w = np.random.default_rng(0).uniform(0.2, 2.0, len(keep))
    w[::37] = 0.0
    return s_tr[keep], y_tr[keep], w, s_te, y_te


@pytest.mark.parametrize("class_weight", [None, "balanced", {3: 4.0, 7: 0.5}])
def test_class_and_sample_weights_equal_the_weighted_precomputed_svc(class_weight):
    from sklearn.utils.class_weight import compute_class_weight

    s_tr, y_tr, w, s_te, _ = _unbalanced_weighted_digits()
    # the reference drops the zero-weight samples itself: scikit-learn's SVC(kernel="precomputed")
    # mispredicts when given them (see QuantumKernelSVC._fit_pairs); ours must equal LIBSVM's model without them
    on = w > 0
    k_tr, k_te = fidelity_gram(s_tr[on]), fidelity_gram(s_te, s_tr[on])
    # "balanced" counts every sample, also those of weight 0 (as SVC given all of them): spelled out for the reference
    balanced = dict(enumerate(compute_class_weight("balanced", classes=np.arange(10), y=y_tr)))
    ref = SVC(kernel="precomputed", class_weight=balanced if class_weight == "balanced" else class_weight,
              decision_function_shape="ovo").fit(k_tr, y_tr[on], sample_weight=w[on])
    for route in ("gram", "poly"):
        clf = QuantumKernelSVC(class_weight=class_weight, route=route).fit(s_tr, y_tr, sample_weight=w)
        np.testing.assert_array_equal(clf.predict(s_te), ref.predict(k_te))
        if route == "gram":  # the per-pair problems are the multiclass SVC's own (poly: see above)
            np.testing.assert_allclose(clf.decision_function(s_te), ref.decision_function(k_te), atol=1e-8)
            assert set(clf.support_) == set(np.flatnonzero(on)[ref.support_])  # zero weight: never a support vector
    np.testing.assert_allclose(clf.class_weight_, ref.class_weight_)
    # the weights change the model: unweighted differs somewhere
    plain = QuantumKernelSVC(route="gram").fit(s_tr, y_tr)
    assert not np.allclose(plain.decision_function(s_te), ref.decision_function(k_te), atol=1e-3)


def test_one_vs_rest_weights_are_per_sample_costs():
    s_tr, y_tr, w, s_te, _ = _unbalanced_weighted_digits()
    clf = QuantumKernelSVC(class_weight="balanced", multiclass="ovr", route="gram").fit(s_tr, y_tr, sample_weight=w)
    on = w > 0  # zero-weight samples left out of the reference (see the test above)
    k_tr, k_te = fidelity_gram(s_tr[on]), fidelity_gram(s_te, s_tr[on])
    costs = (clf.class_weight_[y_tr] * w)[on]  # each sample keeps its own class's weight in every one-vs-rest problem
    ref = np.stack([SVC(kernel="precomputed").fit(k_tr, (y_tr[on] == c).astype(int), sample_weight=costs)
                    .decision_function(k_te) for c in range(10)], axis=1)
    np.testing.assert_allclose(clf.decision_function(s_te), ref, atol=1e-8)
    poly = QuantumKernelSVC(class_weight="balanced", multiclass="ovr", tol=1e-10).fit(s_tr, y_tr, sample_weight=w)
    ref_tight = np.stack([SVC(kernel="precomputed", tol=1e-10).fit(k_tr, (y_tr[on] == c).astype(int),
                                                                   sample_weight=costs)
                          .decision_function(k_te) for c in range(10)], axis=1)
    np.testing.assert_allclose(poly.decision_function(s_te), ref_tight, atol=1e-8)


def test_sample_weight_equals_repeated_samples_at_a_tight_tolerance():
    """scikit-learn's check: weight k == the sample k times, weight 0 == the sample removed (SVC fails it, also at
    tol=1e-12)."""
    from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

    est = QuantumKernelSVC(kernel=FidelityKernel(encoder=AmplitudeEncoder(max_value=1.0)), tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_sample_weight_equivalence_on_dense_data("QuantumKernelSVC", est)


def test_a_square_batch_of_raw_samples_is_read_as_samples():
    """64 digits of 64 pixels: (64, 64) is one image or 64 samples to an encoder; to the estimator, samples."""
    d = load_digits()
    x, y = d.data[:64], d.target[:64]
    states = torch.tensor(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=torch.complex128)
    clf = QuantumKernelSVC(kernel=FidelityKernel(encoder=AmplitudeEncoder())).fit(x, y)
    ref = QuantumKernelSVC().fit(states, y)
    np.testing.assert_allclose(clf.decision_function(d.data[64:128]), ref.decision_function(
        torch.tensor(d.data[64:128] / np.linalg.norm(d.data[64:128], axis=1, keepdims=True))), atol=1e-10)
    kernel = FidelityKernel(encoder=AmplitudeEncoder(), dtype=torch.complex128)  # and the kernel alone
    np.testing.assert_allclose(kernel.evaluate(x), kernel.evaluate(d.data[:65])[:64, :64], atol=1e-12)
    assert kernel.evaluate(d.data[:10], x).shape == (10, 64)
    with pytest.raises(ShapeError, match="no sample_shape"):  # the encoder alone still refuses to guess
        AmplitudeEncoder().states(x)


def test_weight_errors():
    s_tr, y_tr, _, _ = _digits(60, 10)
    for bad, match in (("balance", "class_weight must be"), ({42: 1.0}, "label 42"), ({3: -1.0}, r"class_weight\[3\]")):
        with pytest.raises(ConfigError, match=match):
            QuantumKernelSVC(class_weight=bad).fit(s_tr, y_tr)
    for w, err, match in ((np.ones(59), ShapeError, r"shape \(60,\)"), (np.ones((60, 2)), ShapeError, "one weight"),
                          (-np.ones(60), DataError, "non-negative"), (np.full(60, np.nan), DataError, "finite"),
                          (np.zeros(60), DataError, "every sample weight is zero"),
                          (np.where(y_tr == 4, 0.0, 1.0), DataError, r"\[4\] have no sample")):
        with pytest.raises(err, match=match):
            QuantumKernelSVC().fit(s_tr, y_tr, sample_weight=w)
    # a number is one weight for every sample, as in scikit-learn: the same model as no weights at all
    a = QuantumKernelSVC().fit(s_tr, y_tr, sample_weight=1.0)
    np.testing.assert_array_equal(a.support_, QuantumKernelSVC().fit(s_tr, y_tr).support_)


def test_complex_states_and_the_projected_kernel_equal_the_precomputed_svc():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(90, 16, dtype=torch.complex128, generator=g)
    s = s / s.norm(dim=1, keepdim=True)
    y = np.arange(90) % 3
    s[y == 1, :4] *= 3  # give the classes some structure
    s = s / s.norm(dim=1, keepdim=True)
    tr, te = slice(0, 60), slice(60, None)
    for kernel in (FidelityKernel(dtype=torch.complex128), ProjectedKernel(gamma=2.0, dtype=torch.complex128)):
        ref = SVC(kernel="precomputed", decision_function_shape="ovo").fit(kernel.evaluate(s[tr]), y[tr])
        clf = QuantumKernelSVC(kernel=kernel).fit(s[tr], y[tr])
        np.testing.assert_array_equal(clf.predict(s[te]), ref.predict(kernel.evaluate(s[te], s[tr])))
        np.testing.assert_allclose(clf.decision_function(s[te]), ref.decision_function(kernel.evaluate(s[te], s[tr])),
                                   atol=1e-8)
    with pytest.raises(ConfigError, match="route='poly' needs"):
        QuantumKernelSVC(route="poly").fit(s[tr], y[tr])


def test_binary_problem_matches_svc_sign_convention():
    s_tr, y_tr, s_te, _ = _digits(400, 100)
    keep_tr, keep_te = np.isin(y_tr, [3, 8]), slice(None)
    k = FidelityKernel()
    clf = QuantumKernelSVC().fit(s_tr[keep_tr], y_tr[keep_tr])
    ref = SVC(kernel="precomputed").fit(fidelity_gram(s_tr[keep_tr]), y_tr[keep_tr])
    k_te = fidelity_gram(s_te[keep_te], s_tr[keep_tr])
    np.testing.assert_allclose(clf.decision_function(s_te), ref.decision_function(k_te), atol=1e-8)
    np.testing.assert_array_equal(clf.predict(s_te), ref.predict(k_te))
    assert k.evaluate(s_te[:2]).shape == (2, 2)


def test_pipeline_and_grid_search():
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    d = load_digits()
    x, y = d.data[:240], d.target[:240]
    pipe = Pipeline([
        ("offset", FunctionTransformer(lambda a: a + 1.0)),  # no all-zero image can reach the amplitude encoder
        ("svm", QuantumKernelSVC(kernel=FidelityKernel(encoder=AmplitudeEncoder(max_value=1.0)))),
    ])
    search = GridSearchCV(pipe, {"svm__C": [0.01, 10.0]}, cv=3)
    search.fit(x[:180], y[:180])
    assert search.best_params_["svm__C"] == 10.0  # C=0.01 underfits the 10 classes
    assert search.best_estimator_.named_steps["svm"].C == 10.0
    assert search.score(x[180:], y[180:]) > 0.8
    params = QuantumKernelSVC(C=2.0, multiclass="ovr").get_params()
    assert params["C"] == 2.0 and params["multiclass"] == "ovr" and "kernel" in params


def _contract_estimator() -> QuantumKernelSVC:
    return QuantumKernelSVC(kernel=FidelityKernel(encoder=AmplitudeEncoder(max_value=1.0)))


@pytest.mark.parametrize("check", [
    "check_classifiers_classes", "check_fit2d_1sample", "check_n_features_in_after_fitting",
    "check_estimators_nan_inf", "check_dont_overwrite_parameters", "check_parameters_default_constructible",
])
def test_estimator_contract_subset(check):
    """The fast part of check_estimator (the full run is the slow test below)."""
    import sklearn.utils.estimator_checks as checks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(checks, check)("QuantumKernelSVC", _contract_estimator())


@pytest.mark.slow
def test_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    skipped = {
        # the amplitude encoder has no state for an all-zero sample; this check casts random data to
        # integer dtypes, which makes some rows zero
        "check_estimators_dtypes": "all-zero samples have no amplitude encoding",
        # the fidelity kernel on amplitude states sees only the direction of x up to its sign, so
        # 2-D blobs on both sides of the origin are not separable: a property of the kernel
        "check_classifiers_train": "blobs are not separable by the direction of x (a kernel property)",
        # LIBSVM stops at tol=1e-3, so weight 2 and a repeated sample reach optima that differ by ~1e-4
        # (scikit-learn's own SVC is marked failing for this check); at tol=1e-12 it passes, tested below
        "check_sample_weight_equivalence_on_dense_data": "LIBSVM's stopping tolerance (as SVC); passes at tol=1e-12",
    }
    est = _contract_estimator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, expected_failed_checks=skipped, on_fail=None, on_skip=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 45


def test_errors():
    s_tr, y_tr, s_te, _ = _digits(60, 10)
    with pytest.raises(DataError, match="at least two classes"):
        QuantumKernelSVC().fit(s_tr, np.zeros(60))
    with pytest.raises(ShapeError, match="60 samples but y has 59"):
        QuantumKernelSVC().fit(s_tr, y_tr[:59])
    for bad in ({"C": 0}, {"C": float("nan")}, {"multiclass": "ova"}, {"route": "fast"}, {"tie_break": "random"}):
        with pytest.raises(ConfigError):
            QuantumKernelSVC(**bad).fit(s_tr, y_tr)
    with pytest.raises(ConfigError, match="kernel must be"):
        QuantumKernelSVC(kernel="rbf").fit(s_tr, y_tr)
    clf = QuantumKernelSVC().fit(s_tr, y_tr)
    with pytest.raises(ShapeError, match="expecting 64 features"):
        clf.predict(torch.ones(2, 32, dtype=torch.complex128) / np.sqrt(32))
    with pytest.raises(DataError, match="not normalised"):
        clf.predict(s_te * 2)


def test_kernel_ridge_equals_sklearn_on_the_gram():
    from sklearn.kernel_ridge import KernelRidge

    s_tr, y_tr, s_te, _ = _digits(120, 30)
    target = y_tr.astype(float)
    ours = QuantumKernelRidge(alpha=0.5).fit(s_tr, target).predict(s_te)
    ref = KernelRidge(alpha=0.5, kernel="precomputed").fit(fidelity_gram(s_tr), target).predict(fidelity_gram(s_te, s_tr))
    np.testing.assert_allclose(ours, ref, atol=1e-10)
    w = np.random.default_rng(1).uniform(0.1, 3.0, len(target))
    ours_w = QuantumKernelRidge(alpha=0.5).fit(s_tr, target, sample_weight=w).predict(s_te)
    ref_w = KernelRidge(alpha=0.5, kernel="precomputed").fit(fidelity_gram(s_tr), target, sample_weight=w).predict(
        fidelity_gram(s_te, s_tr))
    np.testing.assert_allclose(ours_w, ref_w, atol=1e-10)
    assert not np.allclose(ours_w, ours, atol=1e-3)
    with pytest.raises(ConfigError, match="alpha"):
        QuantumKernelRidge(alpha=-1).fit(s_tr, target)
    with pytest.raises(ShapeError, match="sample_weight must have shape"):
        QuantumKernelRidge().fit(s_tr, target, sample_weight=w[:-1])


def test_inputs_prepared_in_chunks_give_the_same_model(monkeypatch):
    import qcstar.kernels.svm as svm

    d = load_digits()
    x, y = d.data[:150], d.target[:150]  # no blank image; some pixels blank in every image
    kernel = FidelityKernel(encoder=AmplitudeEncoder(max_value=1.0))
    whole = QuantumKernelSVC(kernel=kernel).fit(x[:100], y[:100])
    monkeypatch.setattr(svm, "PREPARE_ROWS", 7)
    chunked = QuantumKernelSVC(kernel=kernel).fit(x[:100], y[:100])
    np.testing.assert_allclose(chunked.decision_function(x[100:]), whole.decision_function(x[100:]), atol=1e-12)
    assert chunked.columns_.numel() < 64  # digits' always-blank pixels are dropped from the real states


def test_the_poly_route_gets_a_large_kernel_cache_by_default():
    import qcstar.kernels.svm as svm

    s_tr, y_tr, _, _ = _digits(120, 10)
    poly = QuantumKernelSVC(multiclass="ovr").fit(s_tr, y_tr)
    assert poly.route_ == "poly" and {m.cache_size for m in poly.poly_models_} == {svm.POLY_CACHE_MB}
    assert QuantumKernelSVC(multiclass="ovr", cache_size=50).fit(s_tr, y_tr).poly_models_[0].cache_size == 50
    with pytest.raises(ConfigError, match="cache_size"):
        QuantumKernelSVC(cache_size=0).fit(s_tr, y_tr)
