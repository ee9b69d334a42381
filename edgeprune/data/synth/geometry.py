"""A pinhole camera over a ground plane, and meshes of convex parts to draw with it.

World axes: X right, Y forward, Z up, metres; the floor is Z = 0. Camera axes: x right, y down,
z along the view. Polygons crossing the camera plane are clipped at `NEAR` before projection.
A mesh is built once in its own frame (`MeshBuilder`) and placed many times (`Mesh.placed`);
all its points move in one matrix product, which is what keeps rendering fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NEAR = 0.05  # metres; geometry closer than this to the camera plane is clipped away


@dataclass
class Camera:
    width: int
    height: int
    focal: float  # pixels
    position: np.ndarray  # (3,) world
    rotation: np.ndarray  # (3, 3) world -> camera

    @classmethod
    def looking_forward(cls, width: int, height: int, hfov_deg: float, height_m: float,
                        pitch_deg: float, roll_deg: float) -> Camera:
        focal = (width / 2) / np.tan(np.radians(hfov_deg) / 2)
        base = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
        pitch, roll = np.radians(pitch_deg), np.radians(roll_deg)
        # positive pitch looks up: rotate about the camera x axis
        tilt = np.array([[1.0, 0.0, 0.0],
                         [0.0, np.cos(pitch), np.sin(pitch)],
                         [0.0, -np.sin(pitch), np.cos(pitch)]])
        spin = np.array([[np.cos(roll), -np.sin(roll), 0.0],
                         [np.sin(roll), np.cos(roll), 0.0],
                         [0.0, 0.0, 1.0]])
        return cls(width, height, focal, np.array([0.0, 0.0, height_m]), spin @ tilt @ base)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return (points - self.position) @ self.rotation.T

    def project(self, camera_points: np.ndarray) -> np.ndarray:
        """(N, 3) camera-frame points with z > 0 -> (N, 2) pixel coordinates."""
        z = camera_points[:, 2:3]
        return camera_points[:, :2] * (self.focal / z) + (self.width / 2, self.height / 2)

    def polygon(self, world_points: np.ndarray) -> np.ndarray | None:
        """A planar world polygon as pixel coordinates, clipped at the near plane (or None)."""
        return self.polygon_from_camera(self.to_camera(world_points))

    def polygon_from_camera(self, points: np.ndarray) -> np.ndarray | None:
        if points[:, 2].min() <= NEAR:
            points = clip_near(points)
            if len(points) < 3:
                return None
        return self.project(points)

    def segments(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World segments -> pixel segments, clipped at the near plane; fully hidden ones go."""
        a, b = self.to_camera(starts), self.to_camera(ends)
        keep = (a[:, 2] > NEAR) | (b[:, 2] > NEAR)
        a, b = a[keep], b[keep]
        for first, second in ((a, b), (b, a)):
            behind = first[:, 2] <= NEAR
            t = (NEAR - first[behind, 2]) / (second[behind, 2] - first[behind, 2])
            first[behind] += (second[behind] - first[behind]) * t[:, None]
        return self.project(a), self.project(b)


def clip_near(points: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman against the plane z = NEAR (camera frame)."""
    out = []
    count = len(points)
    for index in range(count):
        current, following = points[index], points[(index + 1) % count]
        inside_now, inside_next = current[2] > NEAR, following[2] > NEAR
        if inside_now:
            out.append(current)
        if inside_now != inside_next:
            t = (NEAR - current[2]) / (following[2] - current[2])
            out.append(current + (following - current) * t)
    return np.array(out).reshape(-1, 3)


def rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# Faces of a box whose corners are indexed by bits (x: 1, y: 2, z: 4).
BOX_FACES = ((0, 2, 6, 4), (1, 5, 7, 3), (0, 4, 5, 1), (2, 3, 7, 6), (0, 1, 3, 2), (4, 6, 7, 5))
BOX_FRONT, BOX_TOP = 5, 5  # index of the +z face (a plate's front is its +z face)
BOX_SIDE_MINUS_Y, BOX_SIDE_PLUS_Y = 2, 3


def box_vertices(center, size) -> np.ndarray:
    bits = np.array([[(i >> 0) & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], float)
    return np.asarray(center, float) + (bits - 0.5) * np.asarray(size, float)


def prism_y(center, radius: float, width: float, sides: int = 6):
    """A wheel: a regular prism whose axis is the y axis -> (vertices, faces)."""
    angles = np.arange(sides) * (2 * np.pi / sides) + np.pi / sides
    ring = np.stack([radius * np.cos(angles), np.zeros(sides), radius * np.sin(angles)], 1)
    vertices = np.asarray(center, float) + np.concatenate([ring - (0.0, width / 2, 0.0),
                                                           ring + (0.0, width / 2, 0.0)])
    faces = [tuple(range(sides)), tuple(range(sides, 2 * sides))]
    faces += [(i, (i + 1) % sides, sides + (i + 1) % sides, sides + i) for i in range(sides)]
    return vertices, tuple(faces)


@dataclass
class Mesh:
    """Convex parts sharing one point array. Per face: normal, color role, label offset."""

    points: np.ndarray  # (P, 3): part vertices and decal points
    faces: list[np.ndarray]  # point indices of each face
    normals: np.ndarray  # (F, 3) outward
    role_names: tuple[str, ...]  # color roles used ("body", "light", ...)
    role_codes: np.ndarray  # (F,) index into role_names
    label_offsets: np.ndarray  # (F,) added to the object's label id
    face_parts: np.ndarray  # (F,) index of the part each face belongs to
    part_centers: np.ndarray  # (parts, 3)
    part_layers: np.ndarray  # (parts,) drawn layer by layer, far to near inside a layer
    decals: dict[int, list[tuple[np.ndarray, str, str]]]  # face -> (point indices, role, kind)
    moving: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per point
    anchors: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # a point per face

    def placed(self, rotation: np.ndarray, origin, moving_rotation: np.ndarray | None = None,
               ) -> Mesh:
        """This mesh rotated and moved; points flagged `moving` use `moving_rotation`."""
        points = self.points @ rotation.T
        normals = self.normals @ rotation.T
        centers = self.part_centers @ rotation.T
        if moving_rotation is not None and self.moving.any():
            points[self.moving] = self.points[self.moving] @ moving_rotation.T
            moving_faces = self.moving[self.anchors]
            normals[moving_faces] = self.normals[moving_faces] @ moving_rotation.T
            moving_parts = np.zeros(len(self.part_centers), bool)
            moving_parts[self.face_parts[moving_faces]] = True
            centers[moving_parts] = self.part_centers[moving_parts] @ moving_rotation.T
        origin = np.asarray(origin, float)
        return Mesh(points + origin, self.faces, normals, self.role_names, self.role_codes,
                    self.label_offsets, self.face_parts, centers + origin, self.part_layers,
                    self.decals, self.moving, self.anchors)


class MeshBuilder:
    """Collects convex parts in a local frame and freezes them into a `Mesh`."""

    def __init__(self) -> None:
        self.points: list[np.ndarray] = []
        self.count = 0
        self.faces: list[np.ndarray] = []
        self.normals: list[np.ndarray] = []
        self.roles: list[str] = []
        self.offsets: list[int] = []
        self.face_parts: list[int] = []
        self.centers: list[np.ndarray] = []
        self.layers: list[int] = []
        self.moving: list[bool] = []
        self.decals: dict[int, list] = {}

    def add_part(self, vertices: np.ndarray, faces, role: str | list[str], label_offset: int = 0,
                 layer: int = 0, moving: bool = False) -> list[int]:
        """Add a convex solid; returns the global index of each of its faces."""
        vertices = np.asarray(vertices, float)
        center = vertices.mean(0)
        part = len(self.centers)
        first = self._add_points(vertices, moving)
        indices = []
        for number, face in enumerate(faces):
            corners = vertices[list(face)]
            normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
            normal /= np.linalg.norm(normal)
            if normal @ (corners[0] - center) < 0:  # faces may be wound either way
                normal = -normal
            indices.append(len(self.faces))
            self.faces.append(np.asarray(face) + first)
            self.normals.append(normal)
            self.roles.append(role if isinstance(role, str) else role[number])
            self.offsets.append(label_offset)
            self.face_parts.append(part)
        self.centers.append(center)
        self.layers.append(layer)
        return indices

    def add_decal(self, face: int, points: np.ndarray, role: str, kind: str) -> None:
        """A flat detail on `face`: kind "paint" (shaded), "light" (glows) or "stroke" (line)."""
        moving = self.moving[int(self.faces[face][0])]
        first = self._add_points(np.asarray(points, float), moving)
        indices = np.arange(first, first + len(points))
        self.decals.setdefault(face, []).append((indices, role, kind))

    def _add_points(self, points: np.ndarray, moving: bool) -> int:
        first = self.count
        self.points.append(points)
        self.moving.extend([moving] * len(points))
        self.count += len(points)
        return first

    def build(self) -> Mesh:
        decal_roles = [role for decals in self.decals.values() for _, role, _ in decals]
        role_names = tuple(dict.fromkeys(self.roles + decal_roles))
        codes = np.array([role_names.index(role) for role in self.roles])
        return Mesh(np.concatenate(self.points), self.faces, np.array(self.normals),
                    role_names, codes, np.array(self.offsets), np.array(self.face_parts),
                    np.array(self.centers), np.array(self.layers), self.decals,
                    np.array(self.moving), np.array([face[0] for face in self.faces]))
