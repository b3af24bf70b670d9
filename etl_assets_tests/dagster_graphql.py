"""The GraphQL queries the dagster-dev tests send to the webserver (Dagster 1.13's schema)."""

WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
        }
      }
    }
  }
}
"""

REPOSITORIES_QUERY = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        schedules { name scheduleState { status } }
        sensors { name sensorType sensorState { status } }
      }
    }
  }
}
"""

ASSET_NODES_QUERY = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    groupName
    opNames
    metadataEntries {
      label
      ... on TextMetadataEntry { text }
    }
  }
}
"""

RUN_STATUS_QUERY = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

RUNS_QUERY = """
query Runs($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) {
    __typename
    ... on Runs {
      results {
        runId
        jobName
        status
        assetSelection { path }
        assetMaterializations { assetKey { path } partition }
        tags { key value }
      }
    }
    ... on PythonError { message }
  }
}
"""

# What the UI's Materialize button posts: one run of the implicit asset job for the selection.
LAUNCH_RUN_MUTATION = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidStepError { invalidStepKey }
    ... on PipelineNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""
