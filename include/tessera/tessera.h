/* Tessera's public C API in one include. */
#ifndef TESSERA_TESSERA_H
#define TESSERA_TESSERA_H

#include "tessera/arena.h"
#include "tessera/autotune.h"
#include "tessera/codegen.h"
#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/graph_executor.h"
#include "tessera/intrin.h"
#include "tessera/ops.h"
#include "tessera/relay.h"
#include "tessera/quantize.h"
#include "tessera/rpc.h"
#include "tessera/runtime.h"
#include "tessera/schedule.h"
#include "tessera/te.h"
#include "tessera/template.h"

#define TESSERA_VERSION_MAJOR 0
#define TESSERA_VERSION_MINOR 1
#define TESSERA_VERSION_PATCH 0

#endif /* TESSERA_TESSERA_H */
