// Contract test from another language: a Node client built only from the .proto files
// (@grpc/proto-loader at run time, the options other teams are told to use) registers XOR on
// the evolver (client stream), starts a run, watches it to the end (server stream), fetches and
// exports the best creature and activates it on the evaluator, checking the outputs; then scores
// one generation of a client-computed run itself (Ask, Activate, Tell).
//
// usage: node client.js EVOLVER_HOST:PORT EVALUATOR_HOST:PORT PROTO_DIR GOOGLE_PROTO_INCLUDE
'use strict';

const assert = require('node:assert/strict');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [evolverAddr, evaluatorAddr, protoDir, googleInclude] = process.argv.slice(2);
const DEADLINE_MS = 30000;

const definition = protoLoader.loadSync(
  ['neatai/v1/evolver.proto', 'neatai/v1/evaluator.proto', 'neatai/v1/dataset.proto'].map((p) => path.join(protoDir, p)),
  { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoDir, googleInclude] },
);
const v1 = grpc.loadPackageDefinition(definition).neatai.v1;
const creds = grpc.credentials.createInsecure();
const evolver = new v1.EvolverService(evolverAddr, creds);
const evolverDatasets = new v1.DatasetService(evolverAddr, creds);
const evaluator = new v1.EvaluatorService(evaluatorAddr, creds);

const deadline = () => ({ deadline: new Date(Date.now() + DEADLINE_MS) });
const unary = (client, method, request) => new Promise((resolve, reject) => {
  client[method](request, deadline(), (err, response) => (err ? reject(err) : resolve(response)));
});
const rejects = async (promise, code) => {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, code, `expected status ${code}, got ${err.code}: ${err.details}`);
    return true;
  });
};

const XOR = [[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]];

function registerXor() {
  return new Promise((resolve, reject) => {
    const call = evolverDatasets.RegisterDataset(deadline(), (err, response) => (err ? reject(err) : resolve(response)));
    call.write({ header: { format: 'DATASET_FORMAT_FLOAT32_RECORDS', inputs: 2, outputs: 1, name: 'xor' } });
    const records = Buffer.alloc(XOR.length * 3 * 4);
    XOR.flat().forEach((v, i) => records.writeFloatLE(v, i * 4));
    // Two chunks: the service concatenates them.
    call.write({ chunk: records.subarray(0, 20) });
    call.write({ chunk: records.subarray(20) });
    call.end();
  });
}

function watch(runId) {
  return new Promise((resolve, reject) => {
    const reports = [];
    const call = evolver.WatchRun({ run_id: runId, from_generation: 0 }, { deadline: new Date(Date.now() + 120000) });
    call.on('data', (message) => reports.push(message.report));
    call.on('error', reject);
    call.on('end', () => resolve(reports));
  });
}

// Client-computed fitness: a run without a dataset whose one generation this client scores,
// each creature's fitness 4 - SSE on XOR from the evaluator's Activate.
async function askTellOneGeneration(inputs) {
  const started = await unary(evolver, 'StartRun', {
    config: {
      population_size: 20, seed: '2', iterations: 1, target_error: -5, // error = -fitness: never reached
      client_fitness: { inputs: 2, outputs: 1, lease_seconds: 30 },
    },
  });
  const asked = await unary(evolver, 'Ask', { run_id: started.run_id, max_creatures: 100, wait_seconds: 10 });
  assert.equal(asked.generation, 1);
  assert.equal(asked.creatures.length, 20);
  assert.equal(asked.done, false);
  const scores = [];
  for (const { id, creature } of asked.creatures) {
    const { outputs } = await unary(evaluator, 'Activate', { creature, inputs });
    const sse = outputs.values.reduce((sum, y, i) => sum + (y - XOR[i][2]) ** 2, 0);
    scores.push({ id, fitness: 4 - sse });
  }
  scores.reverse(); // any order
  const told = await unary(evolver, 'Tell', { run_id: started.run_id, scores });
  assert.equal(told.accepted, 20);
  assert.equal(told.generation, 2); // this Tell completed generation 1
  const reports = await watch(started.run_id);
  assert.equal(reports.length, 1);
  assert.equal(reports[0].evaluations, '20');
  assert.equal(reports[0].state, 'RUN_STATE_EXHAUSTED'); // its one generation
  assert.ok(Math.abs(reports[0].best_score - Math.max(...scores.map((s) => s.fitness))) < 1e-9);
  // Error contract: an id Ask never hands out is INVALID_ARGUMENT.
  await rejects(unary(evolver, 'Tell', { run_id: started.run_id, scores: [{ id: 'x', fitness: 1 }] }),
    grpc.status.INVALID_ARGUMENT);
  return { run_id: started.run_id, told: told.accepted, best_score: reports[0].best_score };
}

async function main() {
  const registered = await registerXor();
  assert.match(registered.dataset_id, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(registered.shape, { records: '4', inputs: 2, outputs: 1 }); // int64 as String
  assert.equal(registered.already_present, false);

  // Error contract: an unknown dataset is NOT_FOUND.
  await rejects(unary(evolver, 'StartRun', { dataset_id: 'sha256:unknown', config: {} }), grpc.status.NOT_FOUND);

  const started = await unary(evolver, 'StartRun', {
    dataset_id: registered.dataset_id,
    config: { population_size: 50, seed: '1', target_error: 0.025, iterations: 300, cost: 'COST_FUNCTION_MSE' },
  });
  assert.ok(started.run_id);

  const reports = await watch(started.run_id);
  assert.deepEqual(reports.map((r) => r.generation), reports.map((_, i) => i + 1)); // every generation, in order
  const last = reports[reports.length - 1];
  assert.equal(last.state, 'RUN_STATE_SOLVED'); // enum as its name
  assert.ok(last.best_error <= 0.025, `best error ${last.best_error}`);
  assert.equal(typeof last.evaluations, 'string'); // int64 as String
  assert.ok(Number(last.evaluations) >= 50);
  assert.ok('evaluate' in last.phase_seconds);

  const { run } = await unary(evolver, 'GetRun', { run_id: started.run_id });
  assert.equal(run.state, 'RUN_STATE_SOLVED');
  assert.equal(run.dataset_id, registered.dataset_id);
  assert.equal(run.best.input, 2);
  assert.equal(run.best.output, 1);

  const exported = await unary(evolver, 'ExportPopulation', { run_id: started.run_id, limit: 1 });
  assert.equal(exported.creatures_json.length, 1);
  assert.equal(exported.generation, last.generation);
  const json = JSON.parse(exported.creatures_json[0]); // NEAT-AI creature JSON
  assert.equal(json.input, 2);
  assert.equal(json.output, 1);

  const inputs = { rows: 4, cols: 2, values: XOR.flatMap(([a, b]) => [a, b]) };
  const activated = await unary(evaluator, 'Activate', { creature: run.best, inputs, feedback_loop: false });
  assert.equal(activated.outputs.rows, 4);
  assert.equal(activated.outputs.cols, 1);
  const outputs = activated.outputs.values;
  const mse = outputs.reduce((sum, y, i) => sum + (y - XOR[i][2]) ** 2, 0) / outputs.length;
  assert.ok(Math.abs(mse - last.best_error) < 1e-4, `activation MSE ${mse} vs the run's best error ${last.best_error}`);
  assert.deepEqual(outputs.map((y) => Math.round(y) + 0), XOR.map((r) => r[2])); // + 0: -0 is 0

  // Error contract: inputs that do not match the creature are INVALID_ARGUMENT.
  await rejects(unary(evaluator, 'Activate', { creature: run.best, inputs: { rows: 1, cols: 3, values: [0, 0, 0] } }),
    grpc.status.INVALID_ARGUMENT);

  const told = await askTellOneGeneration(inputs);

  console.log(JSON.stringify({ run_id: started.run_id, generations: reports.length, best_error: last.best_error, mse,
    ask_tell: told }));
}

main()
  .then(() => { evolver.close(); evolverDatasets.close(); evaluator.close(); })
  .catch((err) => { console.error(err); process.exit(1); });
