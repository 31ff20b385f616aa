// Validates every object `kubectl kustomize deploy/kubernetes` builds (read
// as a JSON array from argv[2]) against the Kubernetes schemas of the
// pinned npm kubernetes-models package: each is constructed as its model
// class and .validate() is called, which throws on a wrong type, a missing
// required field or a value out of its enum. The schemas accept unknown
// field names, so what this base must have (a headless Service per role,
// gRPC probes on the gRPC port, a non-root pod, one primary with a claim,
// the autoscaler and the budget on the replicas) is checked here by name.
// A deliberately broken copy of the StatefulSet must fail validation, so
// that a validator that accepts everything fails this test.
//
// Usage: node validate.js MANIFESTS.json   (exit 0: all valid)
"use strict";
const fs = require("fs");

const objects = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };

// "apps/v1" -> kubernetes-models/apps/v1, "v1" -> kubernetes-models/v1.
function modelClass(apiVersion, kind) {
  const module = require(`kubernetes-models/${apiVersion}`);
  if (typeof module[kind] !== "function") {
    throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  }
  return module[kind];
}

function validationError(object) {
  const Model = modelClass(object.apiVersion, object.kind);
  try {
    new Model(object).validate();
    return null;
  } catch (error) {
    return error.message;
  }
}

const byKind = {};
for (const object of objects) {
  const name = `${object.kind}/${object.metadata && object.metadata.name}`;
  const error = validationError(object);
  check(error === null, `${name}: ${error}`);
  console.log(`${error === null ? "valid  " : "INVALID"} ${object.apiVersion} ${name}`);
  (byKind[object.kind] = byKind[object.kind] || []).push(object);
}

const one = (kind, name) =>
  (byKind[kind] || []).find((o) => o.metadata.name === name);
const statefulSet = one("StatefulSet", "cutoverd-primary");
const deployment = one("Deployment", "cutoverd-replica");
const hpa = one("HorizontalPodAutoscaler", "cutoverd-replica");
const pdb = one("PodDisruptionBudget", "cutoverd-replica");
const primaryService = one("Service", "cutoverd-primary");
const replicaService = one("Service", "cutoverd-replicas");
const secret = one("Secret", "cutoverd-tokens");
const configMaps = byKind.ConfigMap || [];
for (const [object, what] of [[statefulSet, "StatefulSet cutoverd-primary"],
    [deployment, "Deployment cutoverd-replica"], [hpa, "the replicas' HPA"],
    [pdb, "the replicas' PodDisruptionBudget"],
    [primaryService, "Service cutoverd-primary"],
    [replicaService, "Service cutoverd-replicas"],
    [secret, "Secret cutoverd-tokens"]]) {
  check(object !== undefined, `missing: ${what}`);
}
check(configMaps.length === 1, "one ConfigMap (the config)");

if (failures.length === 0) {
  const labels = (o) => o.spec.template.metadata.labels;
  const matches = (selector, podLabels) =>
    Object.entries(selector).every(([k, v]) => podLabels[k] === v);
  check(statefulSet.spec.replicas === 1, "one primary (RocksDB has one writer)");
  check(statefulSet.spec.serviceName === "cutoverd-primary",
        "the StatefulSet's pods are named through cutoverd-primary");
  check((statefulSet.spec.volumeClaimTemplates || []).length === 1,
        "the primary's store on a PersistentVolumeClaim");
  for (const [service, workload] of [[primaryService, statefulSet],
                                     [replicaService, deployment]]) {
    check(service.spec.clusterIP === "None", `${service.metadata.name} is headless`);
    check(matches(service.spec.selector, labels(workload)),
          `${service.metadata.name} selects ${workload.metadata.name}'s pods`);
    check(!matches(service.spec.selector,
                   labels(workload === deployment ? statefulSet : deployment)),
          `${service.metadata.name} selects only ${workload.metadata.name}'s pods`);
  }
  check(matches(pdb.spec.selector.matchLabels, labels(deployment)),
        "the budget covers the replicas");
  check(hpa.spec.scaleTargetRef.kind === "Deployment" &&
        hpa.spec.scaleTargetRef.name === deployment.metadata.name,
        "the autoscaler scales the replicas");
  const args = deployment.spec.template.spec.containers[0].args;
  const follow = args.indexOf("--follow");
  check(follow >= 0 && args[follow + 1] ===
        "cutoverd-primary-0.cutoverd-primary:7400",
        "replicas follow the primary's pod by its stable name");
  const tokenFile = args.indexOf("--follow-token-file");
  const followSecret = one("Secret", "cutoverd-follow-token");
  const replicaPod = deployment.spec.template.spec;
  const followVolume = replicaPod.volumes.find(
      (v) => v.secret && v.secret.secretName === followSecret.metadata.name);
  const followMount = followVolume && replicaPod.containers[0].volumeMounts.find(
      (m) => m.name === followVolume.name);
  check(tokenFile >= 0 && followMount &&
        args[tokenFile + 1] === followMount.mountPath + "/token" &&
        followSecret.stringData.token !== undefined,
        "replicas send the token of Secret cutoverd-follow-token to the primary");
  for (const workload of [statefulSet, deployment]) {
    const pod = workload.spec.template;
    const name = workload.metadata.name;
    const container = pod.spec.containers[0];
    check(pod.spec.securityContext.runAsNonRoot === true, `${name} runs as non-root`);
    check(container.securityContext.allowPrivilegeEscalation === false,
          `${name} cannot gain privileges`);
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      check(container[probe] && container[probe].grpc &&
            container[probe].grpc.port === 7400,
            `${name}: ${probe} is gRPC health on 7400`);
    }
    check(container.readinessProbe.grpc.service === "cutover.v1.Evaluation",
          `${name}: readiness asks for the service cutover.v1.Evaluation`);
    check(pod.metadata.annotations["prometheus.io/scrape"] === "true" &&
          pod.metadata.annotations["prometheus.io/port"] === "7401",
          `${name} is scraped on 7401`);
    check(container.resources.requests.cpu && container.resources.requests.memory &&
          container.resources.limits.memory, `${name} has requests and a memory limit`);
    const volumes = Object.fromEntries(pod.spec.volumes.map((v) => [v.name, v]));
    check(volumes.config && volumes.config.configMap.name === configMaps[0].metadata.name,
          `${name} mounts the generated ConfigMap ${configMaps[0].metadata.name}`);
    check(volumes.tokens && volumes.tokens.secret.secretName === secret.metadata.name,
          `${name} mounts the token Secret`);
    const tokenMount = container.volumeMounts.find((m) => m.name === "tokens");
    check(tokenMount && !tokenMount.subPath,
          `${name}: the token Secret is a folder mount (subPath gets no updates)`);
  }

  // The self-check: a StatefulSet with a string for a count and a container
  // without its name must not validate.
  const broken = JSON.parse(JSON.stringify(statefulSet));
  broken.spec.replicas = "one";
  delete broken.spec.template.spec.containers[0].name;
  const brokenError = validationError(broken);
  check(brokenError !== null &&
        brokenError.includes("replicas") && brokenError.includes("name"),
        `the broken StatefulSet must fail validation (got: ${brokenError})`);
  console.log(`broken StatefulSet refused: ${brokenError}`);
}

if (failures.length > 0) {
  for (const failure of failures) console.error(`FAIL: ${failure}`);
  process.exit(1);
}
console.log(`kubernetes: ${objects.length} objects valid`);
