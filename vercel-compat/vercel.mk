# vercel-compat: `make vercel-bundle` copies the CGI executables (plain build, never the
# sanitizer one) and the shared libraries they load into the function folder
# vercel-compat/api/{bin,lib} (git-ignored); see vercel-compat/README.md.
VERCEL_EXES = collect health home ingest processed_events
VERCEL_API  = vercel-compat/api

.PHONY: vercel-bundle vercel-clean
vercel-bundle:
	@$(MAKE) --no-print-directory -s SANITIZE= $(addprefix build/bin/,$(VERCEL_EXES))
	@vercel-compat/bundle.sh build/bin $(VERCEL_API) $(VERCEL_EXES)

vercel-clean:
	rm -rf $(VERCEL_API)/bin $(VERCEL_API)/lib
