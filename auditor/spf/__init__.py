"""SPF (RFC 7208): the set of client addresses for which check_host() returns ``pass``.

Used on both sides: ``spf:b.spf.service-now.com`` as the addresses a provider sends from, and
``spf:example.com`` as what your own domain authorises.

How it works:

- **DNS, in parallel.** Every TXT answer is parsed as soon as it arrives and the lookups its
  terms need (include and redirect targets, ``a``, ``mx`` and ``exists`` names) are started
  at once, on a thread pool, each (name, type) at most once per run. A tree of includes
  therefore costs about its depth in round trips, not its size. Lookups the evaluation
  needs never queue behind speculative ones (see :class:`Dns`). An overall deadline bounds
  the whole expansion.
- **Evaluation, in RFC order.** The records are then walked exactly as check_host() would,
  once per address family (a receiver queries A for an IPv4 client and AAAA for an IPv6 one,
  so void lookups differ per family): terms in order, first match wins, only ``+``
  mechanisms authorise, ``-include:`` removes what the include passes, ``~all``/``?all``
  authorise nothing, ``redirect=`` applies when no mechanism matched and the record has no
  ``all``. DNS-querying terms are counted before the query (limit 10, section 4.6.4), void
  lookups too (limit 2), includes recursively and per path, loops are errors.
- **What cannot be listed is said.** ``exists:`` and ``a``/``include`` names with macros
  other than ``%{d}``, and ``ptr``, depend on the client; the source is then ``partial``
  with the term and the include chain that reached it. ``exists:`` with a plain name that
  resolves matches every client, as ``+all`` does.
- **Over the limit**: a receiver honours nothing after the 10th lookup (permerror). The
  honoured view is the default; the publisher's view (every range listed, limits ignored) is
  computed too and available with ``view="published"``; either way the source is partial.

A DNS failure (SERVFAIL, refusal, timeout) anywhere in the tree fails the source: it is never
an empty or shortened set. NXDOMAIN and NODATA are void lookups.
"""
