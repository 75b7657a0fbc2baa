/*
 * libcurl, loaded on first use. tier0 does not link libcurl: its dependency
 * chain (GnuTLS, Kerberos, LDAP, SSH, RTMP, ...) is 4.5 MB of resident pages
 * that a daemon making no outbound call would carry for nothing. The first
 * outbound request dlopen()s it; every call goes through t0_curl.
 */
#ifndef T0_CURL_API_H
#define T0_CURL_API_H

#include <curl/curl.h>

struct t0_curl_api {
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
	CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
	CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
	CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev_bitmask,
					 int *running);
	CURLMsg *(*multi_info_read)(CURLM *m, int *msgs_in_queue);
	CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *p);
	CURLMcode (*multi_cleanup)(CURLM *m);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
	CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *e);
	void (*easy_reset)(CURL *e);
	const char *(*easy_strerror)(CURLcode code);
	CURLHcode (*easy_header)(CURL *e, const char *name, size_t index, unsigned int origin,
				 int request, struct curl_header **hout);
	time_t (*getdate)(const char *p, const time_t *unused);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

extern struct t0_curl_api t0_curl;

/* Loads libcurl once; T0_OK, or T0_EIO with a log line naming what failed. */
int t0_curl_load(void);
/* 1 once loaded. */
int t0_curl_loaded(void);

#endif
