"""coopbot core: platform-neutral domain, use cases, grammar, time parsing and wiring."""
