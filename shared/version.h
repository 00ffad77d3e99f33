/* version.h - the service's version: events_build_info (metrics_prom.c) and the API
 * description (docs/openapi.yaml, info.version) say the same. */
#ifndef SVC_VERSION_H
#define SVC_VERSION_H
#define SVC_VERSION "1.0"
#endif
