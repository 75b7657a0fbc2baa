#include "bot/curl_api.h"

#include <dlfcn.h>
#include <stddef.h>

#include "bot/log.h"
#include "bot/t0.h"

struct t0_curl_api t0_curl;

static void *lib;

static const struct {
	const char *name;
	size_t offset;
} symbols[] = {
#define SYM(field, name) { name, offsetof(struct t0_curl_api, field) }
	SYM(global_init, "curl_global_init"),
	SYM(global_cleanup, "curl_global_cleanup"),
	SYM(multi_init, "curl_multi_init"),
	SYM(multi_setopt, "curl_multi_setopt"),
	SYM(multi_add_handle, "curl_multi_add_handle"),
	SYM(multi_remove_handle, "curl_multi_remove_handle"),
	SYM(multi_socket_action, "curl_multi_socket_action"),
	SYM(multi_info_read, "curl_multi_info_read"),
	SYM(multi_assign, "curl_multi_assign"),
	SYM(multi_cleanup, "curl_multi_cleanup"),
	SYM(easy_init, "curl_easy_init"),
	SYM(easy_setopt, "curl_easy_setopt"),
	SYM(easy_getinfo, "curl_easy_getinfo"),
	SYM(easy_cleanup, "curl_easy_cleanup"),
	SYM(easy_reset, "curl_easy_reset"),
	SYM(easy_strerror, "curl_easy_strerror"),
	SYM(easy_header, "curl_easy_header"),
	SYM(getdate, "curl_getdate"),
	SYM(slist_append, "curl_slist_append"),
	SYM(slist_free_all, "curl_slist_free_all"),
#undef SYM
};

int t0_curl_loaded(void)
{
	return lib != NULL;
}

int t0_curl_load(void)
{
	void *h;

	if (lib)
		return T0_OK;
	h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		log_err("curl", "load_failed", "error=%s", dlerror());
		return T0_EIO;
	}
	for (size_t i = 0; i < T0_ARRAY_LEN(symbols); i++) {
		void *sym = dlsym(h, symbols[i].name);

		if (!sym) {
			log_err("curl", "load_failed", "symbol=%s", symbols[i].name);
			dlclose(h);
			return T0_EIO;
		}
		/* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
		*(void **)((char *)&t0_curl + symbols[i].offset) = sym;
	}
	lib = h;
	log_debug("curl", "loaded", "");
	return T0_OK;
}
