#include <libxml/xmlversion.h>
/* Only the parsers are used; the ICU converters need no headers of their own. */
#undef LIBXML_ICU_ENABLED
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <libxml/xmlreader.h>

/* xmlFree is a global function pointer; one call site keeps Swift's
   concurrency checking away from the mutable global. */
static inline void instill_xml_free(void *pointer) { xmlFree(pointer); }
