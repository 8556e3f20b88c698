"""nftables rulesets: ``nft list ruleset`` text and ``nft -j`` JSON, read and evaluated."""
