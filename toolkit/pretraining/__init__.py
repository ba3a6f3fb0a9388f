"""Greedy layer-wise pretraining (slides 9–14) and fine-tuning with a head (slides 16–19).

**Pretraining.** Plain backprop through many sigmoid layers stalls (slide 9). The fix
(slides 10–14): train the stack one stage at a time. Stage ``k`` is a *shallow*
autoencoder ``h{k-1} → hk → h{k-1}`` made of the deep model's own ``enc{k}_*`` and
``dec{k}_*`` layers (see :mod:`toolkit.autoencoders` for the names); its input ``h{k-1}``
is the output of the stages already trained, computed **once per stage** (batch-wise
``predict``) rather than pushed through frozen layers on every step. Because the stage
models are built from the very layer objects of the deep autoencoder, the trained stages
*are* the deep encoder (``enc1 … encn``) and deep decoder (``decn … dec1``): nothing is
copied or restacked by hand.

Stage losses: stage 1 reconstructs the data with the model's output activation, so it
uses the model's loss (binary cross-entropy for [0, 1] pixels). Stage ``k > 1``
reconstructs the codes ``h{k-1}``: with a sigmoid decoder (codes in [0, 1]) binary
cross-entropy is the matching likelihood, the convention of Bengio et al. (2007);
otherwise mean squared error (:func:`toolkit.autoencoders.default_loss`).

**Hooks.** Ordinary Keras callbacks (``callbacks=``) go to every stage's ``fit``; a
:class:`StageCallback` also hears ``on_stage_begin(stage, info)`` and
``on_stage_end(stage, info, history)``. Progress names the stage:
``stage 2/4: 1000 → 500``.

**Fine-tuning.** :func:`attach_head` wraps the (pretrained) encoder *object* with an
output layer (slide 18: softmax, sigmoid or linear), and :func:`fine_tune` trains end to
end, optionally with the encoder frozen for the first epochs (recompiling after each
change of ``trainable``, as Keras requires).

**Modules.** :mod:`~toolkit.pretraining.plan` finds a model's trunk and its stages,
:mod:`~toolkit.pretraining.greedy` trains them, :mod:`~toolkit.pretraining.heads` attaches a
head and fine-tunes; every name below is importable from ``toolkit.pretraining``.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((32, 12)).astype("float32")
    >>> result = pretrain_greedy((8, 4), x, epochs=1, batch_size=16, verbose=0)
    >>> [str(s) for s in result.stages]
    ['stage 1/2: 12 → 8', 'stage 2/2: 8 → 4']
    >>> classifier = attach_head(result.encoder, 3)
    >>> classifier.get_layer(result.encoder.name) is result.encoder
    True
"""

from toolkit.callbacks import StageCallback
from toolkit.pretraining.greedy import PretrainResult, StageInfo, greedy_pretrain_model, pretrain_greedy
from toolkit.pretraining.heads import TASKS, attach_head, fine_tune, head_loss
from toolkit.pretraining.plan import model_chain, plan_stages

__all__ = [
    "StageCallback",
    "greedy_pretrain_model",
    "plan_stages",
    "model_chain",
    "StageInfo",
    "PretrainResult",
    "pretrain_greedy",
    "attach_head",
    "fine_tune",
    "head_loss",
    "TASKS",
]
