"""Model families behind Beam ModelHandlers, chosen by registry name."""
