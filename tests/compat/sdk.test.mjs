// Frost's FC 3.0 API driven by the official Node SDK (@alicloud/fc20230330 with
// @alicloud/openapi-client), as a user's program would. run.sh starts the
// server and passes COMPAT_ENDPOINT (host:port), COMPAT_KEY_ID and
// COMPAT_KEY_SECRET.
//
//   node --test tests/compat/
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test, before } from 'node:test';

const require = createRequire(import.meta.url);
const FC = require('@alicloud/fc20230330');
const $OpenApi = require('@alicloud/openapi-client');
const Client = FC.default;

const endpoint = process.env.COMPAT_ENDPOINT;
const keyId = process.env.COMPAT_KEY_ID;
const keySecret = process.env.COMPAT_KEY_SECRET;

function client(secret = keySecret, id = keyId) {
  return new Client(new $OpenApi.Config({
    accessKeyId: id,
    accessKeySecret: secret,
    endpoint,
    protocol: 'http',
    regionId: 'local',
    readTimeout: 20000,
    connectTimeout: 5000,
  }));
}

// The SDK throws on non-2xx; these helpers check the FC error it carries.
async function rejectsWith(promise, code, status) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected an error ${code}, the call succeeded`);
  assert.equal(err.code, code, `error code: ${err.code} (${err.message})`);
  if (status !== undefined) assert.equal(err.statusCode, status, err.message);
  return err;
}

const FN = 'compat-gpu-fn';
const TRIGGER = 'compat-http';

// Modelled on seed 002 and the captured CreateFunction: a GPU custom-container.
function gpuFunctionInput(name) {
  return new FC.CreateFunctionInput({
    functionName: name,
    runtime: 'custom-container',
    description: 'GPU image classification (compat test)',
    cpu: 2,
    memorySize: 8192,
    diskSize: 512,
    timeout: 1200,
    instanceConcurrency: 1,
    environmentVariables: { FCGPU_RUNTIME_SHMSIZE: '8589934592', MODEL_DIR: '/models' },
    gpuConfig: new FC.GPUConfig({ gpuType: 'fc.gpu.tesla.1', gpuMemorySize: 8192 }),
    customContainerConfig: new FC.CustomContainerConfig({
      image: 'registry.example/ns/paddle-porn-detection:v1',
      port: 9000,
    }),
  });
}

describe('FC 3.0 SDK against frost', () => {
  let fc;

  before(() => {
    assert.ok(endpoint, 'COMPAT_ENDPOINT is not set (run tests/compat/run.sh)');
    fc = client();
  });

  test('createFunction', async () => {
    const r = await fc.createFunction(new FC.CreateFunctionRequest({ body: gpuFunctionInput(FN) }));
    assert.equal(r.statusCode, 200);
    const f = r.body;
    assert.ok(f instanceof FC.Function);
    assert.equal(f.functionName, FN);
    assert.equal(f.runtime, 'custom-container');
    assert.equal(f.cpu, 2);
    assert.equal(f.memorySize, 8192);
    assert.equal(f.timeout, 1200);
    assert.equal(f.gpuConfig.gpuType, 'fc.gpu.tesla.1');
    assert.equal(f.gpuConfig.gpuMemorySize, 8192);
    assert.equal(f.customContainerConfig.image, 'registry.example/ns/paddle-porn-detection:v1');
    assert.equal(f.customContainerConfig.port, 9000);
    assert.equal(f.environmentVariables.FCGPU_RUNTIME_SHMSIZE, '8589934592');
    assert.match(f.functionArn, new RegExp(`^acs:fc:[^:]+:[^:]+:functions/${FN}$`));
    assert.ok(f.functionId);
    assert.ok(f.createdTime);
    assert.equal(f.createdTime, f.lastModifiedTime);
    assert.equal(f.state, 'Active');
    assert.equal(f.lastUpdateStatus, 'Successful');
    assert.ok(r.headers['x-fc-request-id'], 'x-fc-request-id header');

    await rejectsWith(
      fc.createFunction(new FC.CreateFunctionRequest({ body: gpuFunctionInput(FN) })),
      'FunctionAlreadyExists', 409);
    const bad = gpuFunctionInput('compat-bad');
    bad.timeout = 0;
    const err = await rejectsWith(fc.createFunction(new FC.CreateFunctionRequest({ body: bad })),
      'InvalidArgument', 400);
    assert.match(err.message, /timeout/);
  });

  test('getFunction', async () => {
    const r = await fc.getFunction(FN, new FC.GetFunctionRequest({}));
    assert.equal(r.statusCode, 200);
    assert.equal(r.body.functionName, FN);
    assert.equal(r.body.gpuConfig.gpuMemorySize, 8192);
    const q = await fc.getFunction(FN, new FC.GetFunctionRequest({ qualifier: 'LATEST' }));
    assert.equal(q.body.functionId, r.body.functionId);
    await rejectsWith(fc.getFunction('compat-missing', new FC.GetFunctionRequest({})),
      'FunctionNotFound', 404);
    await rejectsWith(fc.getFunction(FN, new FC.GetFunctionRequest({ qualifier: 'prod' })),
      'InvalidArgument', 400);
  });

  test('updateFunction', async () => {
    const before = (await fc.getFunction(FN, new FC.GetFunctionRequest({}))).body;
    const r = await fc.updateFunction(FN, new FC.UpdateFunctionRequest({
      body: new FC.UpdateFunctionInput({ timeout: 600, description: 'updated by the SDK' }),
    }));
    assert.equal(r.statusCode, 200);
    assert.equal(r.body.timeout, 600);
    assert.equal(r.body.description, 'updated by the SDK');
    assert.equal(r.body.createdTime, before.createdTime);
    assert.equal(r.body.functionId, before.functionId);
    assert.equal(r.body.gpuConfig.gpuType, 'fc.gpu.tesla.1');
    const g = await fc.getFunction(FN, new FC.GetFunctionRequest({}));
    assert.equal(g.body.timeout, 600);
  });

  test('listFunctions', async () => {
    for (const n of ['compat-list-a', 'compat-list-b', 'other-fn']) {
      const input = gpuFunctionInput(n);
      await fc.createFunction(new FC.CreateFunctionRequest({ body: input }));
    }
    const r = await fc.listFunctions(new FC.ListFunctionsRequest({ prefix: 'compat-', limit: 10 }));
    assert.equal(r.statusCode, 200);
    const names = r.body.functions.map((f) => f.functionName);
    assert.deepEqual(names, ['compat-gpu-fn', 'compat-list-a', 'compat-list-b']);
    assert.ok(!r.body.nextToken);

    // Paging one by one.
    const seen = [];
    let nextToken;
    for (let i = 0; i < 10; i++) {
      const p = await fc.listFunctions(new FC.ListFunctionsRequest({ prefix: 'compat-', limit: 1, nextToken }));
      seen.push(...p.body.functions.map((f) => f.functionName));
      nextToken = p.body.nextToken;
      if (!nextToken) break;
    }
    assert.deepEqual(seen, names);

    const all = await fc.listFunctions(new FC.ListFunctionsRequest({}));
    assert.equal(all.body.functions.length, 4);
  });

  test('provision config', async () => {
    const put = await fc.putProvisionConfig(FN, new FC.PutProvisionConfigRequest({
      qualifier: 'LATEST',
      body: new FC.PutProvisionConfigInput({
        defaultTarget: 1,
        alwaysAllocateCPU: false,
        alwaysAllocateGPU: false,
        targetTrackingPolicies: [new FC.TargetTrackingPolicy({
          name: 'gpu-busy',
          metricType: 'GPUMemUtilization',
          metricTarget: 0.6,
          minCapacity: 1,
          maxCapacity: 4,
          startTime: '2026-01-01T00:00:00Z',
          endTime: '2036-01-01T00:00:00Z',
          timeZone: 'Asia/Shanghai',
        })],
      }),
    }));
    assert.equal(put.statusCode, 200);
    assert.equal(put.body.target, 1);
    assert.equal(put.body.defaultTarget, 1);
    assert.equal(put.body.current, 0);
    assert.equal(put.body.alwaysAllocateGPU, false);
    assert.equal(put.body.targetTrackingPolicies[0].name, 'gpu-busy');
    assert.match(put.body.functionArn, new RegExp(`functions/${FN}$`));

    const get = await fc.getProvisionConfig(FN, new FC.GetProvisionConfigRequest({ qualifier: 'LATEST' }));
    assert.equal(get.body.target, 1);
    assert.equal(get.body.targetTrackingPolicies[0].maxCapacity, 4);

    const list = await fc.listProvisionConfigs(new FC.ListProvisionConfigsRequest({}));
    assert.equal(list.body.provisionConfigs.length, 1);
    assert.equal(list.body.provisionConfigs[0].functionArn, put.body.functionArn);
    const byName = await fc.listProvisionConfigs(new FC.ListProvisionConfigsRequest({ functionName: FN }));
    assert.equal(byName.body.provisionConfigs.length, 1);

    const del = await fc.deleteProvisionConfig(FN, new FC.DeleteProvisionConfigRequest({ qualifier: 'LATEST' }));
    assert.equal(del.statusCode, 204);
    await rejectsWith(fc.getProvisionConfig(FN, new FC.GetProvisionConfigRequest({})),
      'ProvisionConfigNotFound', 404);
    const after = await fc.listProvisionConfigs(new FC.ListProvisionConfigsRequest({}));
    assert.equal(after.body.provisionConfigs.length, 0);
  });

  test('async invoke config', async () => {
    const dest = 'acs:fc:local:0000000000000000:functions/compat-list-a';
    const put = await fc.putAsyncInvokeConfig(FN, new FC.PutAsyncInvokeConfigRequest({
      qualifier: 'LATEST',
      body: new FC.PutAsyncInvokeConfigInput({
        maxAsyncRetryAttempts: 2,
        destinationConfig: new FC.DestinationConfig({
          onFailure: new FC.Destination({ destination: dest }),
        }),
      }),
    }));
    assert.equal(put.statusCode, 200);
    assert.equal(put.body.maxAsyncRetryAttempts, 2);
    assert.equal(put.body.maxAsyncEventAgeInSeconds, 86400);
    assert.equal(put.body.destinationConfig.onFailure.destination, dest);

    const get = await fc.getAsyncInvokeConfig(FN, new FC.GetAsyncInvokeConfigRequest({ qualifier: 'LATEST' }));
    assert.equal(get.body.maxAsyncRetryAttempts, 2);
    assert.equal(get.body.destinationConfig.onFailure.destination, dest);

    const list = await fc.listAsyncInvokeConfigs(new FC.ListAsyncInvokeConfigsRequest({}));
    assert.equal(list.body.configs.length, 1);
    assert.match(list.body.configs[0].functionArn, new RegExp(`functions/${FN}$`));

    await rejectsWith(fc.putAsyncInvokeConfig(FN, new FC.PutAsyncInvokeConfigRequest({
      body: new FC.PutAsyncInvokeConfigInput({
        destinationConfig: new FC.DestinationConfig({ onSuccess: new FC.Destination({ destination: 'ftp://x/y' }) }),
      }),
    })), 'InvalidArgument', 400);

    const del = await fc.deleteAsyncInvokeConfig(FN, new FC.DeleteAsyncInvokeConfigRequest({}));
    assert.equal(del.statusCode, 204);
    await rejectsWith(fc.getAsyncInvokeConfig(FN, new FC.GetAsyncInvokeConfigRequest({})),
      'AsyncConfigNotFound', 404);
  });

  test('concurrency config', async () => {
    const put = await fc.putConcurrencyConfig(FN, new FC.PutConcurrencyConfigRequest({
      body: new FC.PutConcurrencyInput({ reservedConcurrency: 3 }),
    }));
    assert.equal(put.statusCode, 200);
    assert.equal(put.body.reservedConcurrency, 3);
    const get = await fc.getConcurrencyConfig(FN);
    assert.equal(get.body.reservedConcurrency, 3);
    assert.match(get.body.functionArn, new RegExp(`functions/${FN}$`));
    const list = await fc.listConcurrencyConfigs(new FC.ListConcurrencyConfigsRequest({}));
    assert.deepEqual(list.body.configs.map((c) => c.reservedConcurrency), [3]);
    const del = await fc.deleteConcurrencyConfig(FN);
    assert.equal(del.statusCode, 204);
    await rejectsWith(fc.getConcurrencyConfig(FN), 'ConcurrencyConfigNotFound', 404);
  });

  test('triggers', async () => {
    const created = await fc.createTrigger(FN, new FC.CreateTriggerRequest({
      body: new FC.CreateTriggerInput({
        triggerName: TRIGGER,
        triggerType: 'http',
        description: 'public endpoint',
        triggerConfig: JSON.stringify({ authType: 'anonymous', methods: ['GET', 'POST'] }),
      }),
    }));
    assert.equal(created.statusCode, 200);
    const t = created.body;
    assert.equal(t.triggerName, TRIGGER);
    assert.equal(t.triggerType, 'http');
    assert.equal(typeof t.triggerConfig, 'string');
    assert.deepEqual(JSON.parse(t.triggerConfig).methods, ['GET', 'POST']);
    assert.ok(t.triggerId);
    assert.ok(t.httpTrigger && t.httpTrigger.urlInternet, 'httpTrigger.urlInternet');
    assert.match(t.httpTrigger.urlInternet, new RegExp(`^http://.*/${FN}$`));

    await rejectsWith(fc.createTrigger(FN, new FC.CreateTriggerRequest({
      body: new FC.CreateTriggerInput({
        triggerName: TRIGGER, triggerType: 'http', triggerConfig: JSON.stringify({ methods: ['GET'] }),
      }),
    })), 'TriggerAlreadyExists', 409);

    const got = await fc.getTrigger(FN, TRIGGER);
    assert.equal(got.body.triggerId, t.triggerId);
    assert.equal(got.body.description, 'public endpoint');

    const list = await fc.listTriggers(FN, new FC.ListTriggersRequest({}));
    assert.deepEqual(list.body.triggers.map((x) => x.triggerName), [TRIGGER]);

    const up = await fc.updateTrigger(FN, TRIGGER, new FC.UpdateTriggerRequest({
      body: new FC.UpdateTriggerInput({
        description: 'signed only',
        triggerConfig: JSON.stringify({ authType: 'function', methods: ['POST'] }),
      }),
    }));
    assert.equal(up.statusCode, 200);
    assert.equal(up.body.description, 'signed only');
    assert.equal(JSON.parse(up.body.triggerConfig).authType, 'function');
    assert.equal(up.body.triggerId, t.triggerId);

    const del = await fc.deleteTrigger(FN, TRIGGER);
    assert.equal(del.statusCode, 204);
    await rejectsWith(fc.getTrigger(FN, TRIGGER), 'TriggerNotFound', 404);
  });

  // The container image cannot run here: the task waits to retry its start,
  // then ends Invalid (a function that cannot start); a stop before that ends
  // it Stopped. What matters here is the SDK's shapes both ways.
  test('async invocation and async tasks', async () => {
    const { Readable } = await import('node:stream');
    const $dara = require('@darabonba/typescript');
    const taskId = 'compat-task-1';
    const inv = await fc.invokeFunctionWithOptions(FN, new FC.InvokeFunctionRequest({
      body: Readable.from([Buffer.from('{"image": "cat.png"}')]),
      qualifier: 'LATEST',
    }), new FC.InvokeFunctionHeaders({ xFcInvocationType: 'Async', xFcAsyncTaskId: taskId }),
    new $dara.RuntimeOptions({}));
    assert.equal(inv.statusCode, 202);
    assert.equal(inv.headers['x-fc-async-task-id'], taskId);
    assert.ok(inv.headers['x-fc-request-id']);

    const got = await fc.getAsyncTask(FN, taskId, new FC.GetAsyncTaskRequest({ qualifier: 'LATEST' }));
    assert.equal(got.statusCode, 200);
    assert.equal(got.body.taskId, taskId);
    assert.equal(got.body.functionArn.endsWith(`functions/${FN}`), true, got.body.functionArn);
    assert.ok(['Enqueued', 'Running', 'Retrying', 'Invalid'].includes(got.body.status),
      got.body.status);
    assert.ok(got.body.events.length >= 1 && got.body.events[0].status === 'Enqueued');

    const list = await fc.listAsyncTasks(FN, new FC.ListAsyncTasksRequest({
      limit: 10, includePayload: true, sortOrderByTime: 'desc',
    }));
    assert.equal(list.statusCode, 200);
    const mine = list.body.tasks.filter((t) => t.taskId === taskId);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].taskPayload, '{"image": "cat.png"}');

    let stopped = true;
    try {
      const stop = await fc.stopAsyncTask(FN, taskId, new FC.StopAsyncTaskRequest({}));
      assert.equal(stop.statusCode, 200);
    } catch (e) {
      assert.equal(e.code, 'AsyncTaskAlreadyFinished', e.message);
      stopped = false;
    }
    const after = await fc.getAsyncTask(FN, taskId, new FC.GetAsyncTaskRequest({}));
    assert.ok((stopped ? ['Stopped', 'Stopping'] : ['Invalid']).includes(after.body.status),
      after.body.status);
    await rejectsWith(fc.getAsyncTask(FN, 'no-such-task', new FC.GetAsyncTaskRequest({})),
      'AsyncTaskNotFound', 404);
  });

  test('deleteFunction', async () => {
    for (const n of [FN, 'compat-list-a', 'compat-list-b', 'other-fn']) {
      const r = await fc.deleteFunction(n);
      assert.equal(r.statusCode, 204);
    }
    await rejectsWith(fc.getFunction(FN, new FC.GetFunctionRequest({})), 'FunctionNotFound', 404);
    await rejectsWith(fc.deleteFunction(FN), 'FunctionNotFound', 404);
    const all = await fc.listFunctions(new FC.ListFunctionsRequest({}));
    assert.deepEqual(all.body.functions, []);
  });

  test('a wrong secret is refused with SignatureNotMatch', async () => {
    const bad = client(keySecret + 'x');
    await rejectsWith(bad.listFunctions(new FC.ListFunctionsRequest({})), 'SignatureNotMatch', 403);
    await rejectsWith(bad.createFunction(new FC.CreateFunctionRequest({ body: gpuFunctionInput('compat-evil') })),
      'SignatureNotMatch', 403);
    const unknown = client(keySecret, 'LTAIunknownKey');
    await rejectsWith(unknown.listFunctions(new FC.ListFunctionsRequest({})), 'InvalidAccessKeyId', 403);
    await rejectsWith(fc.getFunction('compat-evil', new FC.GetFunctionRequest({})), 'FunctionNotFound', 404);
  });

  test('an unsigned request is refused', async () => {
    const base = `http://${endpoint}/2023-03-30`;
    const r = await fetch(`${base}/functions`);
    assert.equal(r.status, 401);
    assert.ok(r.headers.get('x-fc-request-id'));
    const body = await r.json();
    assert.equal(body.Code, 'MissingAuthorization');
    assert.equal(body.RequestId, r.headers.get('x-fc-request-id'));

    const c = await fetch(`${base}/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ functionName: 'compat-unsigned', runtime: 'custom-container',
        customContainerConfig: { image: 'r/x:1' } }),
    });
    assert.equal(c.status, 401);
    await rejectsWith(fc.getFunction('compat-unsigned', new FC.GetFunctionRequest({})), 'FunctionNotFound', 404);
  });
});
