// Text output of the pool and socket reports, and the per-endpoint summary (--format text).
#ifndef STALLSCOPE_AGENT_OUTPUT_POOL_SOCKET_TEXT_H_
#define STALLSCOPE_AGENT_OUTPUT_POOL_SOCKET_TEXT_H_

#include <string>
#include <vector>

#include "sockets/socket_reports.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

std::string FormatPoolSaturation(const v1::PoolSaturation& s);
std::string FormatPoolUtilization(const v1::PoolUtilization& u);
std::string FormatSocketLifetime(const v1::SocketLifetime& s);
std::string FormatEndpointSummary(const std::vector<EndpointSummary::Row>& rows);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_OUTPUT_POOL_SOCKET_TEXT_H_
