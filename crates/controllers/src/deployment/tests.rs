use super::*;
use crate::testutil::{DeploymentExt, PodExt, RsExt, mk_deployment, mk_pod, mk_rs, ts};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

const WEB: &[(&str, &str)] = &[("app", "web")];

fn run(d: &Deployment, rss: &[ReplicaSet], pods: &[Pod]) -> Plan {
    let rss: Vec<Arc<ReplicaSet>> = rss.iter().cloned().map(Arc::new).collect();
    let pods: Vec<Arc<Pod>> = pods.iter().cloned().map(Arc::new).collect();
    reconcile_deployment(DeploymentInput {
        deployment: d,
        replica_sets: &rss,
        pods: &pods,
        now: ts(100),
    })
}

fn created(plan: &Plan) -> Vec<ReplicaSet> {
    plan.actions()
        .filter_map(|a| match a {
            Action::CreateReplicaSet(rs) => Some((**rs).clone()),
            _ => None,
        })
        .collect()
}

fn replaced(plan: &Plan) -> Vec<(String, i32)> {
    plan.actions()
        .filter_map(|a| match a {
            Action::ReplaceReplicaSet(rs) => {
                Some((name_of(&rs.metadata).to_string(), rs_replicas(rs)))
            }
            _ => None,
        })
        .collect()
}

fn events(plan: &Plan) -> Vec<String> {
    plan.actions()
        .filter_map(|a| match a {
            Action::Event(e) => Some(e.message.clone()),
            _ => None,
        })
        .collect()
}

fn status(plan: &Plan) -> Option<DeploymentStatus> {
    plan.actions().find_map(|a| match a {
        Action::ReplaceDeploymentStatus(d) => d.status.clone(),
        _ => None,
    })
}

fn condition(status: &DeploymentStatus, type_: &str) -> (String, String) {
    let c = get_condition(status, type_).unwrap();
    (c.status.clone(), c.reason.clone().unwrap_or_default())
}

/// The ReplicaSet the controller creates for `d`, as the server would store it,
/// with `replicas` pods of which `available` are available.
fn rs_for(
    d: &Deployment,
    replicas: i32,
    available: i32,
    revision: i64,
    created_at: i64,
) -> ReplicaSet {
    let fresh = created(&run(d, &[], &[]))
        .pop()
        .expect("a ReplicaSet is created");
    let name = name_of(&fresh.metadata).to_string();
    let mut rs = fresh;
    rs.metadata.uid = Some(format!("uid-{name}"));
    rs.metadata.resource_version = Some("1".into());
    rs.metadata.generation = Some(1);
    rs.metadata.creation_timestamp = Some(Time(ts(created_at)));
    set_rs_replicas(&mut rs, replicas);
    let d_replicas = d_replicas(d);
    set_replicas_annotations(&mut rs, d_replicas, d_replicas + max_surge(d));
    rs.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(REVISION_ANNOTATION.into(), revision.to_string());
    rs.with_status(replicas, available, available)
}

fn complete_status(d: &mut Deployment, replicas: i32) {
    d.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(REVISION_ANNOTATION.into(), "1".into());
    let mut status = DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(replicas),
        updated_replicas: Some(replicas),
        ready_replicas: Some(replicas),
        available_replicas: Some(replicas),
        ..DeploymentStatus::default()
    };
    let mut c1 = new_condition(
        "Progressing",
        "True",
        "NewReplicaSetAvailable",
        "done".into(),
        ts(0),
    );
    c1.message = Some("ReplicaSet \"x\" has successfully progressed.".into());
    set_condition(&mut status, c1);
    set_condition(
        &mut status,
        new_condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            ts(0),
        ),
    );
    d.status = Some(status);
}

#[test]
fn a_new_deployment_gets_a_replicaset_named_after_its_template_hash() {
    let d = mk_deployment("default", "web", 3, WEB);
    let plan = run(&d, &[], &[]);
    let hash = compute_hash(&d.spec.as_ref().unwrap().template, None);
    let rs = created(&plan).pop().unwrap();
    assert_eq!(name_of(&rs.metadata), format!("web-{hash}"));
    assert_eq!(
        labels_of(&rs.metadata).get(POD_TEMPLATE_HASH_LABEL),
        Some(&hash)
    );
    let spec = rs.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(
        spec.selector
            .match_labels
            .as_ref()
            .unwrap()
            .get(POD_TEMPLATE_HASH_LABEL),
        Some(&hash)
    );
    let tlabels = spec
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert_eq!(tlabels.get(POD_TEMPLATE_HASH_LABEL), Some(&hash));
    assert_eq!(tlabels.get("app").map(String::as_str), Some("web"));
    let ann = annotations_of(&rs.metadata);
    assert_eq!(ann.get(REVISION_ANNOTATION).map(String::as_str), Some("1"));
    assert_eq!(
        ann.get(DESIRED_REPLICAS_ANNOTATION).map(String::as_str),
        Some("3")
    );
    assert_eq!(
        ann.get(MAX_REPLICAS_ANNOTATION).map(String::as_str),
        Some("4")
    );
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Deployment", "uid-web")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );

    assert_eq!(
        events(&plan),
        [format!("Scaled up replica set web-{hash} from 0 to 3")]
    );
    let s = status(&plan).unwrap();
    assert_eq!(s.observed_generation, Some(1));
    assert_eq!(
        condition(&s, "Progressing"),
        ("True".into(), "NewReplicaSetCreated".into())
    );
    assert_eq!(
        get_condition(&s, "Progressing").unwrap().message.as_deref(),
        Some(format!("Created new replica set \"web-{hash}\"").as_str())
    );
    assert_eq!(
        condition(&s, "Available"),
        ("False".into(), "MinimumReplicasUnavailable".into())
    );
    assert!(plan.actions().any(|a| matches!(a,
        Action::PatchAnnotations { annotations, .. } if annotations.get(REVISION_ANNOTATION).map(String::as_str) == Some("1"))));
}

#[test]
fn the_hash_is_stable_so_a_resync_finds_the_same_replicaset() {
    let d = mk_deployment("default", "web", 3, WEB);
    let rs = rs_for(&d, 3, 0, 1, 0);
    let plan = run(&d, &[rs], &[]);
    assert!(created(&plan).is_empty());
    assert!(replaced(&plan).is_empty());
}

#[test]
fn a_complete_deployment_writes_nothing() {
    let mut d = mk_deployment("default", "web", 3, WEB);
    let rs = rs_for(&d, 3, 3, 1, 0);
    complete_status(&mut d, 3);
    let plan = run(&d, &[rs], &[]);
    assert!(plan.is_empty(), "{plan:#?}");
}

#[test]
fn rolling_update_25_percent_of_4_surges_one_and_drops_one() {
    let mut d = mk_deployment("default", "web", 4, WEB);
    let old = rs_for(&d, 4, 4, 1, 0);
    complete_status(&mut d, 4);
    let d = d.image("registry.example/app:2");
    let plan = run(&d, std::slice::from_ref(&old), &[]);
    let new = created(&plan).pop().unwrap();
    let new_name = name_of(&new.metadata).to_string();
    assert_eq!(rs_replicas(&new), 1);
    assert_eq!(
        annotations_of(&new.metadata)
            .get(REVISION_ANNOTATION)
            .map(String::as_str),
        Some("2")
    );
    let old_name = name_of(&old.metadata).to_string();
    assert_eq!(replaced(&plan), [(old_name.clone(), 3)]);
    assert_eq!(
        events(&plan),
        [
            format!("Scaled up replica set {new_name} from 0 to 1"),
            format!("Scaled down replica set {old_name} from 4 to 3"),
        ]
    );
}

#[test]
fn rolling_update_surge_1_unavailable_0_waits_for_the_new_pod() {
    let one = IntOrString::Int(1);
    let zero = IntOrString::Int(0);
    let mut d =
        mk_deployment("default", "web", 3, WEB).surge_unavailable(one.clone(), zero.clone());
    let old = rs_for(&d, 3, 3, 1, 0);
    complete_status(&mut d, 3);
    let d = d.image("registry.example/app:2");

    // Step 1: one surge pod, nothing scaled down (maxUnavailable 0).
    let plan = run(&d, std::slice::from_ref(&old), &[]);
    let new = created(&plan).pop().unwrap();
    assert_eq!(rs_replicas(&new), 1);
    assert!(replaced(&plan).is_empty());

    // Still unavailable: nothing moves.
    let new_rs = rs_for(&d, 1, 0, 2, 50);
    let plan = run(&d, &[old.clone(), new_rs], &[]);
    assert!(replaced(&plan).is_empty() && created(&plan).is_empty());

    // Step 2: the new pod is available; one old pod goes.
    let new_rs = rs_for(&d, 1, 1, 2, 50);
    let plan = run(&d, &[old.clone(), new_rs.clone()], &[]);
    assert_eq!(replaced(&plan), [(name_of(&old.metadata).to_string(), 2)]);

    // Step 3: old at 2 (3 available in total): the new one grows to 2.
    let old2 = rs_for(&d.clone().image("registry.example/app:1"), 2, 2, 1, 0);
    let plan = run(&d, &[old2, new_rs.clone()], &[]);
    assert_eq!(
        replaced(&plan),
        [(name_of(&new_rs.metadata).to_string(), 2)]
    );
}

#[test]
fn unhealthy_old_replicas_are_cleaned_up_first() {
    let mut d = mk_deployment("default", "web", 4, WEB);
    let old = rs_for(&d, 4, 2, 1, 0);
    complete_status(&mut d, 4);
    let d = d.image("registry.example/app:2");
    let new_rs = rs_for(&d, 1, 0, 2, 50);
    // allPods 5, minAvailable 3, new unavailable 1 → may scale down 1; the old
    // set has 2 unavailable pods, so one of those goes.
    let plan = run(&d, &[old.clone(), new_rs], &[]);
    assert_eq!(replaced(&plan), [(name_of(&old.metadata).to_string(), 3)]);
}

#[test]
fn recreate_scales_old_to_zero_waits_for_pods_then_creates_the_new_set() {
    let mut d = mk_deployment("default", "web", 3, WEB).recreate();
    let old = rs_for(&d, 3, 3, 1, 0);
    complete_status(&mut d, 3);
    let d = d.image("registry.example/app:2");

    let plan = run(&d, std::slice::from_ref(&old), &[]);
    assert_eq!(replaced(&plan), [(name_of(&old.metadata).to_string(), 0)]);
    assert!(created(&plan).is_empty());

    // Old set at zero but its pod still runs: wait.
    let mut old0 = old.clone();
    set_rs_replicas(&mut old0, 0);
    let old0 = old0.with_status(0, 0, 0);
    let pod = mk_pod("default", "web-old-x")
        .with_labels(WEB)
        .phase("Running")
        .with_owner(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: name_of(&old.metadata).into(),
            uid: uid_of(&old.metadata).into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        });
    let plan = run(&d, std::slice::from_ref(&old0), std::slice::from_ref(&pod));
    assert!(created(&plan).is_empty());

    // Gone (or finished): now the new set is created at full size.
    let plan = run(&d, std::slice::from_ref(&old0), &[pod.phase("Succeeded")]);
    let new = created(&plan).pop().unwrap();
    assert_eq!(rs_replicas(&new), 3);
}

#[test]
fn scaling_the_deployment_scales_its_only_replicaset() {
    let mut d = mk_deployment("default", "web", 3, WEB);
    let rs = rs_for(&d, 3, 3, 1, 0);
    complete_status(&mut d, 3);
    d.spec.as_mut().unwrap().replicas = Some(5);
    d.metadata.generation = Some(2);
    let plan = run(&d, std::slice::from_ref(&rs), &[]);
    let name = name_of(&rs.metadata).to_string();
    assert_eq!(replaced(&plan), [(name.clone(), 5)]);
    assert_eq!(
        events(&plan),
        [format!("Scaled up replica set {name} from 3 to 5")]
    );
    let updated = plan
        .actions()
        .find_map(|a| match a {
            Action::ReplaceReplicaSet(rs) => Some(rs.clone()),
            _ => None,
        })
        .unwrap();
    let ann = annotations_of(&updated.metadata);
    assert_eq!(
        ann.get(DESIRED_REPLICAS_ANNOTATION).map(String::as_str),
        Some("5")
    );
    assert_eq!(
        ann.get(MAX_REPLICAS_ANNOTATION).map(String::as_str),
        Some("7")
    );
    assert_eq!(status(&plan).unwrap().observed_generation, Some(2));
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    let mut d = mk_deployment("default", "web", 10, WEB);
    let old = rs_for(&d, 8, 8, 1, 0);
    complete_status(&mut d, 10);
    let mut d = d.image("registry.example/app:2");
    let new = rs_for(&d, 5, 0, 2, 50);
    d.spec.as_mut().unwrap().replicas = Some(20);
    let plan = run(&d, &[old.clone(), new.clone()], &[]);
    let mut got = replaced(&plan);
    got.sort();
    let mut want = vec![
        (name_of(&old.metadata).to_string(), 15),
        (name_of(&new.metadata).to_string(), 10),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn old_zero_sized_replicasets_beyond_the_history_limit_are_deleted_oldest_first() {
    let mut base = mk_deployment("default", "web", 2, WEB).history_limit(1);
    let olds: Vec<ReplicaSet> = (1..=3)
        .map(|rev| {
            let d = base.clone().image(&format!("registry.example/app:{rev}"));
            rs_for(&d, 0, 0, rev, rev * 10)
        })
        .collect();
    base = base.image("registry.example/app:4");
    let current = rs_for(&base, 2, 2, 4, 40);
    complete_status(&mut base, 2);
    base.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(REVISION_ANNOTATION.into(), "4".into());
    let mut all = olds.clone();
    all.push(current);
    let plan = run(&base, &all, &[]);
    let deleted: Vec<String> = plan
        .actions()
        .filter_map(|a| match a {
            Action::Delete { target, .. } => Some(target.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        deleted,
        [
            name_of(&olds[0].metadata).to_string(),
            name_of(&olds[1].metadata).to_string()
        ]
    );
}

#[test]
fn a_paused_deployment_does_not_roll_out_and_says_so() {
    let mut d = mk_deployment("default", "web", 3, WEB);
    let old = rs_for(&d, 3, 3, 1, 0);
    complete_status(&mut d, 3);
    let d = d.image("registry.example/app:2").paused();
    let plan = run(&d, &[old], &[]);
    assert!(created(&plan).is_empty());
    assert!(replaced(&plan).is_empty());
    let s = status(&plan).unwrap();
    assert_eq!(
        condition(&s, "Progressing"),
        ("Unknown".into(), "DeploymentPaused".into())
    );
}

#[test]
fn a_finished_rollout_reports_new_replicaset_available() {
    let mut d = mk_deployment("default", "web", 3, WEB);
    let rs = rs_for(&d, 3, 3, 1, 0);
    complete_status(&mut d, 3);
    // The status still says "created"; the pods are now all available.
    let s = d.status.as_mut().unwrap();
    remove_condition(s, "Progressing");
    set_condition(
        s,
        new_condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            "Created".into(),
            ts(0),
        ),
    );
    let plan = run(&d, std::slice::from_ref(&rs), &[]);
    let s = status(&plan).unwrap();
    assert_eq!(
        condition(&s, "Progressing"),
        ("True".into(), "NewReplicaSetAvailable".into())
    );
    assert_eq!(
        get_condition(&s, "Progressing").unwrap().message.as_deref(),
        Some(
            format!(
                "ReplicaSet \"{}\" has successfully progressed.",
                name_of(&rs.metadata)
            )
            .as_str()
        )
    );
    assert_eq!(
        condition(&s, "Available"),
        ("True".into(), "MinimumReplicasAvailable".into())
    );
    assert_eq!(
        (s.replicas, s.updated_replicas, s.available_replicas),
        (Some(3), Some(3), Some(3))
    );
}

#[test]
fn a_foreign_replicaset_with_our_name_bumps_the_collision_count() {
    let d = mk_deployment("default", "web", 3, WEB);
    let hash = compute_hash(&d.spec.as_ref().unwrap().template, None);
    let squatter = mk_rs("default", &format!("web-{hash}"), 1, &[("app", "other")]);
    let plan = run(&d, &[squatter], &[]);
    assert!(created(&plan).is_empty());
    assert_eq!(status(&plan).unwrap().collision_count, Some(1));
    let mut d2 = d.clone();
    d2.status = Some(DeploymentStatus {
        collision_count: Some(1),
        ..DeploymentStatus::default()
    });
    let plan = run(&d2, &[], &[]);
    let rs = created(&plan).pop().unwrap();
    assert_ne!(name_of(&rs.metadata), format!("web-{hash}"));
}

#[test]
fn orphan_replicasets_matching_the_selector_are_adopted() {
    let d = mk_deployment("default", "web", 3, WEB);
    let mut orphan = rs_for(&d, 3, 3, 1, 0);
    orphan.metadata.owner_references = None;
    let plan = run(&d, std::slice::from_ref(&orphan), &[]);
    let adopt = plan.actions().find_map(|a| match a {
        Action::PatchOwnerReferences {
            target,
            owner_references,
            ..
        } => Some((target.name.clone(), owner_references[0].uid.clone())),
        _ => None,
    });
    assert_eq!(
        adopt,
        Some((name_of(&orphan.metadata).to_string(), "uid-web".to_string()))
    );
    assert!(created(&plan).is_empty(), "the adopted set is the new one");
}

#[test]
fn a_selector_that_selects_everything_is_refused_with_an_event() {
    let mut d = mk_deployment("default", "web", 3, &[]);
    d.spec.as_mut().unwrap().selector = Default::default();
    let plan = run(&d, &[], &[]);
    assert!(created(&plan).is_empty());
    let ev = plan.actions().find_map(|a| match a {
        Action::Event(e) => Some(e.reason.clone()),
        _ => None,
    });
    assert_eq!(ev.as_deref(), Some("SelectingAll"));
}

#[test]
fn absurd_replica_counts_do_not_overflow() {
    let mut d = mk_deployment("default", "web", i32::MAX, WEB).surge_unavailable(
        IntOrString::Int(i32::MAX),
        IntOrString::String("100%".into()),
    );
    let old = rs_for(
        &mk_deployment("default", "web", 3, WEB),
        i32::MAX,
        i32::MAX,
        i64::MAX,
        0,
    );
    d.status = Some(DeploymentStatus {
        replicas: Some(i32::MAX),
        collision_count: Some(i32::MAX),
        ..DeploymentStatus::default()
    });
    let d = d.image("registry.example/app:2");
    let plan = run(&d, &[old], &[]);
    assert!(!plan.is_empty());
}
