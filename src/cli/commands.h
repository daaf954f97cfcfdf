// The client commands of `kiln`. Each Add* registers its subcommands; a command's
// outcome lands in Globals::status, which main turns into the exit code and the one
// line on stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/client.h"
#include "common/status.h"

namespace kiln::cli {

struct Globals {
  std::string data_dir = "./kiln-data";
  Status status;
  Result<Client> MakeClient() const { return ClientFromEnvironment(data_dir); }
};

void AddDeploy(CLI::App& app, Globals& g);
void AddFunctions(CLI::App& app, Globals& g);  // ls, describe, rm, rollback
void AddInvoke(CLI::App& app, Globals& g);
void AddRoute(CLI::App& app, Globals& g);
void AddKey(CLI::App& app, Globals& g);
void AddSecret(CLI::App& app, Globals& g);
void AddAudit(CLI::App& app, Globals& g);
void AddRuns(CLI::App& app, Globals& g);
void AddLogs(CLI::App& app, Globals& g);
void AddLayer(CLI::App& app, Globals& g);
void AddPs(CLI::App& app, Globals& g);
void AddDoctor(CLI::App& app, Globals& g);
void AddPipeline(CLI::App& app, Globals& g);

// An event given as --data: JSON text, or @file; empty is null.
Result<std::string> EventText(const std::string& data);

}  // namespace kiln::cli
