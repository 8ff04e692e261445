"""A seeded higher-order Markov chain: the corpus source whose next-token law is known exactly.

Each document starts from the same fixed (invisible) context of ``order``
copies of token 0, so the true distribution of every token given the tokens
before it in its document is one row of the transition table: no stationary
distribution or burn-in is needed, and the fidelity objective can be computed
exactly at every position of a held-out window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_CONTEXTS = 1 << 20  # vocab_size ** order rows: keeps the table in memory


@dataclass(frozen=True, eq=False)
class MarkovSource:
    """An order-``order`` Markov chain over ``vocab_size`` tokens, drawn from ``seed``.

    ``table[c]`` is the next-token distribution after context number ``c``
    (the last ``order`` tokens read as a base-``vocab_size`` number, oldest
    first). Each row is drawn from a symmetric Dirichlet(``concentration``):
    small concentrations give peaked rows, i.e. a low-entropy, learnable source.
    """

    vocab_size: int
    order: int
    table: np.ndarray  # [vocab_size ** order, vocab_size], float64, rows sum to 1

    @classmethod
    def create(cls, vocab_size: int, order: int, concentration: float, seed: int) -> MarkovSource:
        rng = np.random.default_rng(seed)
        alpha = np.full(vocab_size, float(concentration))
        table = rng.dirichlet(alpha, size=vocab_size**order)
        table.setflags(write=False)
        return cls(vocab_size=vocab_size, order=order, table=table)

    def _contexts(self, tokens: np.ndarray) -> np.ndarray:
        """Context number before each position of ``tokens`` [N, L]: shape [N, L + 1].

        Entry ``t`` is the context that predicts token ``t`` (entry ``L`` predicts
        the token after the last); the fixed start context is all zeros.
        """
        n, length = tokens.shape
        padded = np.concatenate([np.zeros((n, self.order), np.int64), tokens], axis=1)
        ctx = np.zeros((n, length + 1), np.int64)
        for j in range(self.order):
            ctx = ctx * self.vocab_size + padded[:, j : j + length + 1]
        return ctx

    def sample(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent documents of ``length`` tokens: int32 [n, length]."""
        tokens = np.zeros((n, length), np.int32)
        cumulative = np.cumsum(self.table, axis=1)
        ctx = np.zeros(n, np.int64)
        modulus = self.vocab_size ** (self.order - 1)  # drops the oldest token
        for t in range(length):
            # Inverse-CDF sampling of one token per document, vectorised over documents.
            u = rng.random(n)[:, None]
            token = (cumulative[ctx] < u).sum(axis=1)
            token = np.minimum(token, self.vocab_size - 1)  # u beyond a row's float sum
            tokens[:, t] = token
            ctx = (ctx % modulus) * self.vocab_size + token
        return tokens

    def next_token_probs(self, x: np.ndarray) -> np.ndarray:
        """True distribution of the token after each position of ``x`` [N, T]: [N, T, V].

        ``x`` must hold documents from their first token, as the windows of
        ``markov_corpus`` do; entry ``[i, t]`` is P(x[i, t + 1] | x[i, : t + 1]).
        """
        return self.table[self._contexts(x)[:, 1:]].astype(np.float32)

    def entropy(self, x: np.ndarray) -> float:
        """Mean entropy (nats) of the true next-token distribution over ``x``'s positions.

        The lowest expected loss any model can reach on windows like ``x``.
        """
        p = self.table[self._contexts(x)[:, 1:]]
        return float(-(p * np.log(np.where(p > 0, p, 1.0))).sum(-1).mean())

    def nll(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean negative log-likelihood (nats) of targets ``y`` under the true source."""
        p = self.table[self._contexts(x)[:, 1:]]
        return float(-np.log(np.take_along_axis(p, y[..., None], -1)).mean())
