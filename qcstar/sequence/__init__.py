"""Sequence classifiers on tokenized circuits: S4D, Transformer and LSTM (PyTorch only).

* :mod:`.s4d`: the S4D layer (arXiv:2206.11893), FFT convolution and recurrent form;
* :mod:`.transformer`, :mod:`.lstm`, :mod:`.models`: the classifiers, size-matched configurations;
* :mod:`.augment`: gauge augmentation of gate-token circuits (equivalent circuits per batch);
* :mod:`.data`: token splits from MNISQ-layout data sets and length-bucketed training with
  :func:`qcstar.train.fit`.

Tokenizers live in :mod:`qcstar.circuits.tokens`. See the README section "Sequence models on QASM".
"""

from .augment import GaugeAugment, gauge_table
from .embedding import SequenceClassifier, TokenEmbedding
from .lstm import LSTMClassifier
from .models import MODELS, S4DClassifier, make_model, parameter_counts, size_matched
from .s4d import S4D, S4DKernel
from .transformer import TransformerClassifier

__all__ = [
    "S4D", "S4DKernel", "S4DClassifier", "TransformerClassifier", "LSTMClassifier", "SequenceClassifier",
    "TokenEmbedding", "GaugeAugment", "gauge_table", "MODELS", "make_model", "parameter_counts", "size_matched",
]
