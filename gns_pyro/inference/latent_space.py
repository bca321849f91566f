"""The continuous latent sites of a Pyro model as one vector, with its log joint, gradient and
Hessian: what Laplace's method (:mod:`gns_pyro.inference.laplace`) and its importance-sampling
check (:mod:`gns_pyro.inference.importance`) work in.

Each site is mapped to the real line by ``biject_to`` of its support (the log-Jacobian is
added to the log joint). For a model over a plate of independent items (a batch of parses) the
Hessian's diagonal blocks come from ``max d`` Hessian-vector products batched with
``autograd.grad(is_grads_batched=True)``, :data:`PROBES_PER_PASS` per backward pass: product
``i`` probes the ``i``-th variable of every item at once, which is exact because the items' log
joints share no variable. Sites whose log-probabilities read only some of the variables (the
type prior's, in a parse) can be declared (``local_sites``) and are then probed along those
alone.

Example::

    >>> import pyro, pyro.distributions as dist, torch
    >>> def model():
    ...     z = pyro.sample("z", dist.Normal(0.0, 1.0))
    ...     pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.5))
    >>> space = LatentSpace(model, {"z": torch.tensor(0.25)})
    >>> f, grad, (block,) = space.curvature(space.z)
    >>> block  # -H: the prior's and the likelihood's unit curvatures
    tensor([[2.]], dtype=torch.float64)
"""

from __future__ import annotations

import torch
from pyro import poutine
from torch.distributions import biject_to

from gns_pyro.models.traces import trace_log_prob

#: Hessian-vector products per batched backward pass (memory grows with it: each product
#: holds its own copy of the graph's intermediate values).
PROBES_PER_PASS = 16


def _supports(model, values: dict, args, kwargs) -> dict:
    trace = poutine.trace(poutine.condition(model, data=values)).get_trace(*args, **kwargs)
    missing = set(values) - {n for n, s in trace.nodes.items() if s["type"] == "sample"}
    if missing:
        raise ValueError(f"not sample sites of the model: {sorted(missing)}")
    return {name: trace.nodes[name]["fn"].support for name in values}


class LatentSpace:
    """The variables of a model's continuous latent sites, flattened to one vector ``z``.

    Each site is mapped to the real line by ``biject_to`` of its support; entries outside its
    mask are held at their given values. With ``batch_size`` the model is over a plate of that
    many independent items, every site's first dimension is the item, and each entry of ``z``
    belongs to one item (:attr:`item`); otherwise there is one item.

    :param model: the Pyro model; ``args``/``kwargs`` are its arguments.
    :param mode: constrained values of the variable sites (the starting point).
    :param fixed: values of other sites held fixed (e.g. discrete structure).
    :param masks: per site, a bool mask (broadcastable to its value) of the entries that vary.
    :param local_sites: optional ``(sites, variables)``: the log-probabilities of the trace
        sites for which the predicate ``sites(name)`` is true depend on the variable sites named
        in ``variables`` alone. Their part of the Hessian is then taken with probes over those
        variables only, the rest of the log joint's with probes over all: the same -H, cheaper
        when those sites are the costly ones (the type prior's nets in a parse). Used for
        models over a plate of items (``batch_size``).
    """

    def __init__(
        self,
        model,
        mode,
        args=(),
        kwargs=None,
        fixed=None,
        masks=None,
        batch_size=None,
        local_sites=None,
    ):
        self.model, self.args, self.kwargs = model, args, dict(kwargs or {})
        self.local_sites = local_sites
        self.fixed, masks = dict(fixed or {}), dict(masks or {})
        self.names = list(mode)
        supports = _supports(model, {**self.fixed, **mode}, args, self.kwargs)
        self.transforms = {n: biject_to(supports[n]) for n in self.names}
        self.base = {n: self.transforms[n].inv(mode[n].detach().double()) for n in self.names}
        self.pick = {
            n: masks.get(n, torch.ones_like(self.base[n], dtype=torch.bool)).expand_as(self.base[n])
            for n in self.names
        }
        self.batch_size = batch_size
        items = []
        for n in self.names:
            if batch_size is None:
                items.append(torch.zeros(int(self.pick[n].sum()), dtype=torch.long))
            else:
                if self.base[n].shape[:1] != (batch_size,):
                    raise ValueError(f"site {n!r} has no leading batch dimension of {batch_size}")
                index = torch.arange(batch_size).view(-1, *[1] * (self.base[n].dim() - 1))
                items.append(index.expand_as(self.base[n])[self.pick[n]])
        #: (D,) the item each entry of ``z`` belongs to
        self.item = torch.cat(items)
        self.num_items = 1 if batch_size is None else batch_size
        self.sizes = [int(self.pick[n].sum()) for n in self.names]
        self.z = torch.cat([self.base[n][self.pick[n]] for n in self.names]).detach()
        #: per item, the indices of its entries in ``z``, in order
        self.entries = [(self.item == b).nonzero().squeeze(-1) for b in range(self.num_items)]
        if local_sites is not None:
            unknown = set(local_sites[1]) - set(self.names)
            if unknown:
                raise ValueError(f"not variable sites: {sorted(unknown)}")
            #: (D,) whether an entry of ``z`` belongs to the variables of ``local_sites``
            self.local = torch.cat(
                [torch.full((k,), n in local_sites[1]) for n, k in zip(self.names, self.sizes)]
            )

    def values(self, z: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """Constrained site values at ``z`` and each item's log-Jacobian (num_items,)."""
        values = dict(self.fixed)
        log_jac = z.new_zeros(self.num_items)
        for n, chunk in zip(self.names, z.split(self.sizes)):
            u = self.base[n].masked_scatter(self.pick[n], chunk)
            x = self.transforms[n](u)
            ladj = self.transforms[n].log_abs_det_jacobian(u, x)
            pick = self.pick[n]
            if ladj.shape != pick.shape:  # an event-wise transform: count events with a latent
                pick = pick.reshape(ladj.shape + (-1,)).any(-1)
            ladj = ladj * pick
            if self.batch_size is None:
                log_jac = log_jac + ladj.sum()
            else:
                log_jac = log_jac + ladj.reshape(self.num_items, -1).sum(-1)
            values[n] = x
        return values, log_jac

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """f(z) per item (num_items,): the items' log joints plus their log-Jacobians."""
        return sum(self._log_joint_terms(z, split=False))

    def _log_joint_terms(self, z: torch.Tensor, split: bool) -> list[torch.Tensor]:
        """f(z) per item as one term, or with ``split`` as two: the ``local_sites``' log-probs
        and everything else (log-Jacobians included)."""
        values, log_jac = self.values(z)
        trace = poutine.trace(poutine.condition(self.model, data=values)).get_trace(
            *self.args, **self.kwargs
        )
        if self.batch_size is None:
            return [trace.log_prob_sum().reshape(1) + log_jac]
        if not split:
            return [self._per_item(trace) + log_jac]
        inside = self.local_sites[0]
        local, rest = trace.copy(), trace.copy()
        for name, site in trace.nodes.items():
            if site["type"] == "sample":
                (rest if inside(name) else local).remove_node(name)
        return [self._per_item(local), self._per_item(rest) + log_jac]

    def _per_item(self, trace) -> torch.Tensor:
        per_item = trace_log_prob(trace)
        if per_item.shape != (self.num_items,):
            raise ValueError(
                f"the model's log-probabilities have batch shape {tuple(per_item.shape)}, "
                f"not ({self.num_items},): its sites must be in one plate of the items"
            )
        return per_item

    def gradient(self, z: torch.Tensor):
        """f (num_items,) and its gradient (D,)."""
        z = z.detach().requires_grad_(True)
        f = self.log_joint(z)
        (grad,) = torch.autograd.grad(f.sum(), z)
        return f.detach(), grad

    def curvature(self, z: torch.Tensor):
        """f (num_items,), the gradient (D,) and per item -H (d_b, d_b), symmetrized.

        The blocks come from ``max d_b`` Hessian-vector products in batched backward passes:
        probe ``i`` is 1 at the ``i``-th entry of every item. With ``local_sites`` their terms
        are probed only along their own variables (the other rows and columns of their
        Hessian are zero), the rest along all.
        """
        z = z.detach().requires_grad_(True)
        split = self.local_sites is not None and self.batch_size is not None
        terms = self._log_joint_terms(z, split)
        everything = torch.ones_like(self.item, dtype=torch.bool)
        along = [self.local, everything] if split else [everything]
        blocks = [z.new_zeros(idx.numel(), idx.numel()) for idx in self.entries]
        total = 0.0
        for k, (term, probed) in enumerate(zip(terms, along)):
            last = k == len(terms) - 1
            (grad,) = torch.autograd.grad(
                term.sum(), z, create_graph=True, retain_graph=True, allow_unused=True
            )
            if grad is None or not grad.requires_grad:  # a term constant (or linear) in z
                total = total + (0.0 if grad is None else grad.detach())
                continue
            total = total + grad.detach()
            for b, h in enumerate(self._hessian_blocks(z, grad, probed, release=last)):
                blocks[b] += h
        f = sum(term.detach() for term in terms)
        return f, total, [-0.5 * (h + h.T) for h in blocks]

    def _hessian_blocks(self, z, grad, probed, release: bool) -> list[torch.Tensor]:
        """Per item, d(grad)/dz restricted to the ``probed`` entries (rows and columns; zero
        elsewhere), from one batched Hessian-vector product per probed position."""
        local = torch.full_like(self.item, -1)
        for idx in self.entries:
            mine = idx[probed[idx]]
            local[mine] = torch.arange(mine.numel())
        width = int(local.max()) + 1
        if width == 0:
            return [z.new_zeros(idx.numel(), idx.numel()) for idx in self.entries]
        probes = (local.unsqueeze(0) == torch.arange(width).unsqueeze(1)).to(z.dtype)
        # a batched backward holds one copy of the graph's buffers per probe: a few at a time,
        # or an image whose parses have hundreds of variables asks for tens of gigabytes
        chunks = probes.split(PROBES_PER_PASS)
        columns = torch.cat(
            [
                torch.autograd.grad(
                    grad,
                    z,
                    grad_outputs=chunk,
                    is_grads_batched=True,
                    retain_graph=not (release and i == len(chunks) - 1),
                )[0]
                for i, chunk in enumerate(chunks)
            ]
        )
        blocks = []
        for idx in self.entries:
            mine = probed[idx].nonzero().squeeze(-1)  # positions within the item
            h = z.new_zeros(idx.numel(), idx.numel())
            # column j of the item's block: the product probing its j-th probed entry
            # (rows outside the probed entries come out zero: the term does not depend on them)
            h[:, mine] = columns[: mine.numel(), idx].T.detach()
            blocks.append(h)
        return blocks
